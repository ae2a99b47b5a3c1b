"""Cloud Storage. The official client honours STORAGE_EMULATOR_HOST; against the emulator it needs
anonymous credentials, which is the only local difference."""
from __future__ import annotations

from functools import lru_cache

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from shared.settings import get_settings


@lru_cache(maxsize=1)
def get_storage() -> storage.Client:
    s = get_settings()
    if s.storage_emulator_host:
        return storage.Client(project=s.project, credentials=AnonymousCredentials())
    return storage.Client(project=s.project)


def bucket_name(logical: str) -> str:
    """Buckets are declared by logical name; the project id prefix makes them globally unique."""
    return f"{get_settings().project}-{logical}"


def write_bytes(bucket: str, path: str, data: bytes, content_type: str = "application/octet-stream") -> str:
    blob = get_storage().bucket(bucket_name(bucket)).blob(path)
    blob.upload_from_string(data, content_type=content_type)
    return f"gs://{bucket_name(bucket)}/{path}"


def read_bytes(bucket: str, path: str) -> bytes:
    return get_storage().bucket(bucket_name(bucket)).blob(path).download_as_bytes()


def list_paths(bucket: str, prefix: str = "") -> list[str]:
    return sorted(b.name for b in get_storage().list_blobs(bucket_name(bucket), prefix=prefix))


def delete_prefix(bucket: str, prefix: str) -> int:
    blobs = list(get_storage().list_blobs(bucket_name(bucket), prefix=prefix))
    for blob in blobs:
        blob.delete()
    return len(blobs)


def ping() -> None:
    list(get_storage().list_buckets(max_results=1, timeout=3))

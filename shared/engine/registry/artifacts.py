"""Ranker artifacts in the `models` bucket (or on local disk, for development and tests).

artifact_path in model_registry is a full URI: gs://<project>-models/<model_name>/<version>/model.npz, or a local
path. The logical bucket name is recovered from the physical one, so the storage adapter (and its emulator switch)
is the only code that talks to GCS.
"""
from __future__ import annotations

from pathlib import Path

from shared.engine.rankers.base import Ranker, load_ranker
from shared.settings import get_settings

MODELS_BUCKET = "models"


def artifact_object_path(model_name: str, version: str) -> str:
    return f"{model_name}/{version}/model.npz"


def upload_artifact(ranker: Ranker, model_name: str | None = None) -> str:
    """Writes the artifact and returns its gs:// URI (what model_registry.artifact_path stores)."""
    from shared.adapters import storage

    name = model_name or ranker.name
    return storage.write_bytes(MODELS_BUCKET, artifact_object_path(name, ranker.version), ranker.to_bytes())


def _logical_bucket(physical: str) -> str:
    prefix = f"{get_settings().project}-"
    return physical[len(prefix):] if physical.startswith(prefix) else physical


def read_artifact_bytes(artifact_path: str) -> bytes:
    if artifact_path.startswith("gs://"):
        from shared.adapters import storage

        bucket, _, path = artifact_path[len("gs://"):].partition("/")
        if not path:
            raise ValueError(f"artifact path {artifact_path!r} names no object")
        return storage.read_bytes(_logical_bucket(bucket), path)
    return Path(artifact_path).read_bytes()


def download_artifact(artifact_path: str) -> Ranker:
    return load_ranker(read_artifact_bytes(artifact_path))

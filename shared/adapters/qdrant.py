"""Qdrant (in the cloud: self-hosted on Cloud Run; locally: qdrant-client local mode behind
emulators/qdrant_server.py, which speaks the same REST API so every process can share one store).

QDRANT_URL may also be ":memory:" or "path:<dir>" for single-process tools that want local mode directly.
"""
from __future__ import annotations

from functools import lru_cache

from qdrant_client import QdrantClient

from shared.settings import get_settings


def client_for(url: str) -> QdrantClient:
    if url == ":memory:":
        return QdrantClient(location=":memory:")
    if url.startswith("path:"):
        return QdrantClient(path=url[len("path:"):])
    return QdrantClient(url=url, timeout=10, prefer_grpc=False)


@lru_cache(maxsize=4)
def _cached(url: str) -> QdrantClient:
    return client_for(url)


def get_qdrant() -> QdrantClient:
    return _cached(get_settings().qdrant_url)


def ping() -> None:
    get_qdrant().get_collections()

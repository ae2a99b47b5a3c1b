"""Qdrant (in the cloud: self-hosted on a Compute Engine VM in the VPC, which requires the QDRANT_API_KEY secret;
locally: qdrant-client local mode behind emulators/qdrant_server.py, which speaks the same REST API so every process
can share one store, and needs no key).

QDRANT_URL may also be ":memory:" or "path:<dir>" for single-process tools that want local mode directly.
"""
from __future__ import annotations

import asyncio
import weakref
from functools import lru_cache

from qdrant_client import AsyncQdrantClient, QdrantClient

from shared.settings import get_settings


def _api_key() -> str | None:
    """Sent as Qdrant's api-key header when set (the cloud); unset locally, where no key is sent."""
    return get_settings().qdrant_api_key or None


def _client_args(url: str) -> dict:
    """The constructor arguments for a QDRANT_URL, the same for the sync and the async client."""
    if url == ":memory:":
        return {"location": ":memory:"}
    if url.startswith("path:"):
        return {"path": url[len("path:"):]}
    return {"url": url, "timeout": 10, "prefer_grpc": False, "api_key": _api_key()}


def client_for(url: str) -> QdrantClient:
    return QdrantClient(**_client_args(url))


@lru_cache(maxsize=4)
def _cached(url: str) -> QdrantClient:
    return client_for(url)


def get_qdrant() -> QdrantClient:
    return _cached(get_settings().qdrant_url)


def ping() -> None:
    get_qdrant().get_collections()


# --- request paths: the async client ----------------------------------------------------------------------
# Every request of a function runs its coroutines on one event loop (shared.adapters.aio): a blocking search
# there would stall every request in flight, so request paths use AsyncQdrantClient. Its HTTP connections
# belong to the loop that opened them, hence one client per loop.
_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AsyncQdrantClient]]" = \
    weakref.WeakKeyDictionary()


def get_async_qdrant() -> AsyncQdrantClient:
    """The running loop's client for settings.qdrant_url (call from a coroutine)."""
    url = get_settings().qdrant_url
    per_loop = _async_clients.setdefault(asyncio.get_running_loop(), {})
    if url not in per_loop:
        per_loop[url] = AsyncQdrantClient(**_client_args(url))
    return per_loop[url]

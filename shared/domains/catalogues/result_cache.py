"""Cached recommendation lists: a process-local TTL cache in front of Redis, keyed so that a stale list is never
served rather than invalidated after the fact.

The key holds everything the answer depends on: catalogue, user, k, exclude_seen, diversity, filters, the model
versions serving the catalogue (a promotion or rollback changes them) and the user's history version (a Redis
counter the interaction sink increments on every stored interaction: store.history_version_key). Reading that
counter is the one Redis round trip of a process-local hit; a Redis hit is two. A list is therefore either exactly
what would be computed now, or not found.

`hit` is True only when the list came from one of the two layers; `layer` says which.
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass

from cachetools import TTLCache

from shared.domains.catalogues import store

LOCAL_ENTRIES = 20_000
LOCAL_TTL_S = 60.0
REDIS_TTL_S = 3600


@dataclass(frozen=True)
class Lookup:
    key: str
    value: dict | None
    layer: str | None  # "process" | "redis" | None (a miss)

    @property
    def hit(self) -> bool:
        return self.value is not None


def result_key(catalogue_id: str, user_id: str, request_key: str, versions: str, history_version: int) -> str:
    digest = hashlib.sha256(f"{request_key}\x00{versions}".encode()).hexdigest()[:24]
    return f"recs:r:{catalogue_id}:{user_id}:{history_version}:{digest}"


class ResultCache:
    def __init__(self) -> None:
        self._local: TTLCache = TTLCache(maxsize=LOCAL_ENTRIES, ttl=LOCAL_TTL_S)
        self._lock = threading.Lock()  # TTLCache is not thread-safe; the function serves requests on threads

    def clear_local(self) -> None:
        with self._lock:
            self._local.clear()

    async def history_versions(self, redis, catalogue_id: str, user_ids: list[str]) -> list[int]:
        raw = await redis.mget([store.history_version_key(catalogue_id, u) for u in user_ids])
        return [int(v) if v is not None else 0 for v in raw]

    async def get(self, redis, key: str) -> Lookup:
        with self._lock:
            value = self._local.get(key)
        if value is not None:
            return Lookup(key, value, "process")
        raw = await redis.get(key)
        if raw is None:
            return Lookup(key, None, None)
        value = json.loads(raw)
        with self._lock:
            self._local[key] = value
        return Lookup(key, value, "redis")

    async def get_many(self, redis, keys: list[str]) -> list[Lookup]:
        out: list[Lookup | None] = [None] * len(keys)
        remote: list[int] = []
        with self._lock:
            for i, key in enumerate(keys):
                value = self._local.get(key)
                if value is not None:
                    out[i] = Lookup(key, value, "process")
                else:
                    remote.append(i)
        if remote:
            raws = await redis.mget([keys[i] for i in remote])
            for i, raw in zip(remote, raws):
                value = json.loads(raw) if raw is not None else None
                out[i] = Lookup(keys[i], value, "redis" if value is not None else None)
                if value is not None:
                    with self._lock:
                        self._local[keys[i]] = value
        return out  # type: ignore[return-value]

    async def put_many(self, redis, entries: dict[str, dict]) -> None:
        if not entries:
            return
        with self._lock:
            self._local.update(entries)
        async with redis.pipeline(transaction=False) as pipe:
            for key, value in entries.items():
                pipe.set(key, json.dumps(value, separators=(",", ":")), ex=REDIS_TTL_S)
            await pipe.execute()


RESULTS = ResultCache()

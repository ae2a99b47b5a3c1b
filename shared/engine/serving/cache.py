"""Ranked-result cache keys and the Redis store behind them, plus per-ranker call counters.

Keys are built from normalised parts only (lower-case slugs, day index clamped), so two requests that
mean the same thing share an entry. A `KEY_VERSION` bump invalidates every entry at once when the
scoring changes. Counters exist so tests and dashboards can assert "a cache hit made zero ranker
calls" from the store itself rather than from timings.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any

KEY_VERSION = "v3"
DAY_PARTS = ("morning", "afternoon", "evening")
MAX_CACHED_DAY = 5          # trip days beyond 5 reuse the day-5 entry (later days already lean "local")
DEFAULT_TTL_S = 6 * 3600
FALLBACK_TTL_S = 120        # a ranking the heuristic served because the LLM failed: retry the LLM soon, not in 6 h
COUNTER_PREFIX = "concierge:ranker_calls:"
log = logging.getLogger("concierge.cache")
_slug = re.compile(r"[^a-z0-9_-]+")


def _part(value: str, what: str) -> str:
    s = _slug.sub("-", str(value).strip().lower()).strip("-")
    if not s:
        raise ValueError(f"{what} is empty after normalisation: {value!r}")
    return s


def clamp_day(day_of_trip: int) -> int:
    if day_of_trip < 1:
        raise ValueError(f"day_of_trip must be >= 1, got {day_of_trip}")
    return min(int(day_of_trip), MAX_CACHED_DAY)


def ranked_key(city: str, archetype: str, day_part: str, day_of_trip: int) -> str:
    if day_part not in DAY_PARTS:
        raise ValueError(f"day_part must be one of {DAY_PARTS}, got {day_part!r}")
    return f"rank:{KEY_VERSION}:{_part(city, 'city')}:{_part(archetype, 'archetype')}:{day_part}:d{clamp_day(day_of_trip)}"


def base_key(city: str, archetype: str) -> str:
    """The full scored candidate set of one (city, archetype) ranking, shared by its 15 combinations."""
    return f"rank:{KEY_VERSION}:{_part(city, 'city')}:{_part(archetype, 'archetype')}:base"


def base_id_key(city: str, archetype: str) -> str:
    """A few bytes naming the current base ranking: enough to validate a process-local copy of it."""
    return base_key(city, archetype) + "-id"


def lock_key(key: str) -> str:
    return f"lock:{key}"


def all_combinations(archetypes: list[str], days: int = MAX_CACHED_DAY) -> list[tuple[str, str, int]]:
    return [(a, p, d) for a in archetypes for p in DAY_PARTS for d in range(1, days + 1)]


class RankedCache:
    """Over a redis.asyncio client: it is read and written on the request loop (shared.adapters.redis_cache).

    A cache must not be a dependency: when Redis cannot be reached every read is a miss, writes are dropped and
    the stampede lock is granted, so planning goes on (slower, each request ranking for itself)."""

    def __init__(self, redis_client, ttl_s: int = DEFAULT_TTL_S):
        self.r = redis_client
        self.ttl_s = ttl_s

    async def get_many(self, keys: list[str]) -> list[Any | None]:
        if not keys:
            return []
        try:
            raw = await self.r.mget(keys)
        except Exception:
            log.warning("ranked cache unreachable: reading as misses", exc_info=True)
            return [None] * len(keys)
        return [json.loads(v) if v is not None else None for v in raw]

    async def set_many(self, items: dict[str, Any], ttl_s: int | None = None) -> None:
        if not items:
            return
        pipe = self.r.pipeline(transaction=False)
        for key, value in items.items():
            pipe.set(key, json.dumps(value, separators=(",", ":")), ex=ttl_s or self.ttl_s)
        try:
            await pipe.execute()
        except Exception:
            log.warning("ranked cache unreachable: %d entries not stored", len(items), exc_info=True)

    async def acquire(self, key: str, ttl_s: int = 30) -> bool:
        """A short lock so concurrent misses of the same key rank once (stampede protection)."""
        try:
            return bool(await self.r.set(lock_key(key), "1", nx=True, ex=ttl_s))
        except Exception:
            return True  # no lock without Redis: rank, rather than wait for a result that cannot be stored

    async def release(self, key: str) -> None:
        try:
            await self.r.delete(lock_key(key))
        except Exception:
            pass  # the lock expires on its own


async def count_call(redis_client, ranker: str) -> None:
    try:
        await redis_client.incr(COUNTER_PREFIX + ranker)
    except Exception:
        log.debug("ranker call not counted: redis unreachable")


def read_counters(redis_client) -> dict[str, int]:
    """With a synchronous client: tests and benchmarks read the counters from outside any request."""
    out = {}
    for key in redis_client.scan_iter(match=COUNTER_PREFIX + "*", count=100):
        k = key.decode() if isinstance(key, bytes) else key
        out[k[len(COUNTER_PREFIX):]] = int(redis_client.get(key) or 0)
    return out

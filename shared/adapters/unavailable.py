"""Which store an exception says is out of reach, so the function layer answers 503 with Retry-After (a client
and Pub/Sub or Cloud Tasks retry it) instead of a 500 (a bug to fix). Only connection-level failures count: a
query that is wrong stays a 500, because retrying it cannot help."""
from __future__ import annotations

import asyncpg
import httpx
import redis.exceptions


def unavailable_dependency(exc: BaseException) -> str | None:
    """'postgres', 'redis', 'qdrant', 'pubsub' or 'a dependency' (a bare connection error or timeout); None when
    the exception is not about reaching a store. Looks through the chain (raise ... from / during handling)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        found = _classify(exc)
        if found:
            return found
        exc = exc.__cause__ or exc.__context__
    return None


def _classify(exc: BaseException) -> str | None:
    if isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError)):
        return "postgres"
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return "redis"
    module = type(exc).__module__ or ""
    if module.startswith("qdrant_client"):
        return "qdrant"
    if module.startswith("google.api_core") and type(exc).__name__ in ("ServiceUnavailable", "DeadlineExceeded",
                                                                         "RetryError"):
        return "pubsub"
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError, TimeoutError)):
        return "a dependency"
    return None

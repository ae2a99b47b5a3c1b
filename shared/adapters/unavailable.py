"""Which store an exception says is out of reach, so the function layer answers 503 with Retry-After (a client
and Pub/Sub or Cloud Tasks retry it) instead of a 500 (a bug to fix). Only connection-level failures count: a
query that is wrong stays a 500, because retrying it cannot help.

Every function imports this (through shared.api.http), so it imports no client library itself: an exception of
a library that was never imported cannot have been raised, and the check looks each one up in sys.modules.
"""
from __future__ import annotations

import sys


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
    asyncpg, redis, httpx = (sys.modules.get(name) for name in ("asyncpg", "redis", "httpx"))
    if asyncpg and isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                                    asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)):
        return "postgres"
    if redis and isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return "redis"
    module = type(exc).__module__ or ""
    if module.startswith("qdrant_client"):
        return "qdrant"
    if module.startswith("google.api_core") and type(exc).__name__ in ("ServiceUnavailable", "DeadlineExceeded",
                                                                         "RetryError"):
        return "pubsub"
    # a bare OSError is what asyncio raises when every address of a host refused ("Multiple exceptions: ...");
    # its subclasses (FileNotFoundError, PermissionError, ...) are not about reaching anything
    if isinstance(exc, (ConnectionError, TimeoutError)) or type(exc) is OSError or (
            httpx and isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))):
        return "a dependency"
    return None

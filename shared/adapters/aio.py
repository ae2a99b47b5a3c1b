"""A persistent event loop on a daemon thread, so synchronous Flask handlers can use asyncpg.

functions-framework serves requests on worker threads with no running loop; asyncpg pools are bound
to the loop that created them. Running every coroutine on one long-lived loop lets a process keep a
single pool across requests instead of reconnecting each time.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="concierge-aio", daemon=True)
            thread.start()
            _loop = loop
        return _loop


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
    """Run a coroutine on the process loop from synchronous code and wait for its result."""
    future = asyncio.run_coroutine_threadsafe(coro, background_loop())
    return future.result(timeout)


def run_apart(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Long work (a seeding run: minutes of catalogue I/O and tagging) on an event loop of its own, in the calling
    worker thread, so the process loop that every request shares is never held by it. The Postgres pool it opened
    on that loop is closed when it ends."""
    from shared.adapters.postgres import close_pool

    async def main() -> T:
        try:
            return await make()
        finally:
            await close_pool()

    return asyncio.run(main())

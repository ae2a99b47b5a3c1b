"""Cloud SQL Postgres (locally: embedded PostgreSQL 16 + pgvector) through an asyncpg pool.

Vectors travel as numpy arrays thanks to pgvector's asyncpg codec; JSON columns as Python objects.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from pgvector import Vector

from shared.settings import get_settings

_pools: dict[tuple[str, int], asyncpg.Pool] = {}
T = TypeVar("T")


async def _init_connection(conn: asyncpg.Connection) -> None:
    # pgvector's binary codec, decoding to float32 numpy arrays (what the engine computes with).
    await conn.set_type_codec(
        "vector", schema="public", format="binary",
        encoder=lambda v: (v if isinstance(v, Vector) else Vector(v)).to_binary(),
        decoder=lambda data: Vector.from_binary(data).to_numpy(),
    )
    for codec in ("json", "jsonb"):
        await conn.set_type_codec(codec, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str | None = None, *, min_size: int = 1, max_size: int = 5) -> asyncpg.Pool:
    """A new pool; callers that own its lifetime (jobs, tests) close it themselves."""
    return await asyncpg.create_pool(
        dsn or get_settings().database_url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        command_timeout=30,
    )


async def get_pool() -> asyncpg.Pool:
    """The process-wide pool for the running loop (functions keep it across requests)."""
    key = (get_settings().database_url, id(asyncio.get_running_loop()))
    pool = _pools.get(key)
    if pool is None:
        pool = await create_pool()
        _pools[key] = pool
    return pool


def with_pool(work: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    """`await work(pool)` from synchronous code (a function's handler), on the shared background loop and its pool."""
    from shared.adapters.aio import run_sync

    async def go() -> T:
        return await work(await get_pool())

    return run_sync(go())


async def close_pool() -> None:
    """Close the running loop's pool, if it has one (a loop that ends must not leave its pool behind)."""
    pool = _pools.pop((get_settings().database_url, id(asyncio.get_running_loop())), None)
    if pool is not None:
        await pool.close()


async def ping(dsn: str | None = None) -> None:
    conn = await asyncpg.connect(dsn or get_settings().database_url, timeout=3)
    try:
        await conn.fetchval("select 1")
    finally:
        await conn.close()

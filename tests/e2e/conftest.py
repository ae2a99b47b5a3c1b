"""The e2e modules' city: Seattle, seeded once from the repository's sources, with its caches emptied so each module
starts from a new user's first request."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

CITY = "seattle"


async def _seeded(dsn: str) -> bool:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return bool(await conn.fetchval(
            "SELECT seeded_at IS NOT NULL AND venue_count > 0 FROM cities WHERE id = $1", CITY))
    finally:
        await conn.close()


async def fetch(dsn: str, sql: str, *args):
    """Rows from the stack's Postgres, with jsonb columns decoded."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def wait_rows(dsn: str, sql: str, *args, timeout_s: float = 45) -> list:
    """The rows once the query returns any (Pub/Sub push to the sink is asynchronous), else [] after timeout_s."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        rows = asyncio.run(fetch(dsn, sql, *args))
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


@pytest.fixture(scope="module")
def seattle(stack):
    import asyncio

    if not asyncio.run(_seeded(stack.env["DATABASE_URL"])):
        proc = subprocess.run([sys.executable, "-m", "jobs.seed_city.main", "--city", CITY],
                              env={**__import__("os").environ, **stack.env}, capture_output=True, text=True,
                              timeout=900)
        assert proc.returncode == 0, f"seeding Seattle failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    from shared.adapters.redis_cache import get_redis

    redis = get_redis()
    for pattern in (f"rank:*:{CITY}:*", f"plan:*:{CITY}:*", f"prewarm:enqueued:*:{CITY}:*"):
        for key in redis.scan_iter(match=pattern):
            redis.delete(key)
    return stack

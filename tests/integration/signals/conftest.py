"""Fixtures for the signal tests: a salt for pseudonyms, a way to run coroutines on the functions' loop, and a
small world (a city, venues, users, trips) under ids unique to each test, so tests never see each other's rows
in the session's shared database."""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

import pytest

# Set before any stack starts, so the function processes it spawns inherit it too.
os.environ.setdefault("SIGNAL_PSEUDONYM_SALT", "test-salt-" + uuid.uuid4().hex)


def run(coro):
    from shared.adapters.aio import run_sync

    return run_sync(coro, timeout=60)


async def pool():
    from shared.adapters.postgres import get_pool

    return await get_pool()


@dataclass
class World:
    tag: str
    city: str
    users: list[str]
    nodes: list[str]
    trips: dict[str, str] = field(default_factory=dict)  # trip id -> owner


async def _seed(tag: str, n_users: int, n_nodes: int) -> World:
    p = await pool()
    city = f"city-{tag}"
    users = [f"user-{tag}-{i}" for i in range(n_users)]
    nodes = [f"node-{tag}-{i}" for i in range(n_nodes)]
    world = World(tag, city, users, nodes)
    async with p.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO cities (id, name) VALUES ($1, $1)", city)
        await conn.executemany("INSERT INTO activity_nodes (id, city_id, name) VALUES ($1, $2, $1)",
                               [(n, city) for n in nodes])
        await conn.executemany("INSERT INTO users (id) VALUES ($1)", [(u,) for u in users])
        for i, user in enumerate(users):
            trip = f"trip-{tag}-{i}"
            await conn.execute(
                "INSERT INTO trips (id, user_id, city_id, start_date, end_date) VALUES ($1, $2, $3, '2025-06-01', '2025-06-03')",
                trip, user, city)
            world.trips[trip] = user
    return world


@pytest.fixture
def world(pg_dsn):
    return run(_seed(uuid.uuid4().hex[:10], n_users=3, n_nodes=6))


def make_world(n_users: int = 3, n_nodes: int = 6) -> World:
    return run(_seed(uuid.uuid4().hex[:10], n_users, n_nodes))


async def signal_rows(where: str, *args):
    p = await pool()
    return [dict(r) for r in await p.fetch(f"SELECT * FROM behavioral_signals WHERE {where} ORDER BY id", *args)]


async def signal_count(user: str):
    p = await pool()
    return await p.fetchval("SELECT signal_count FROM users WHERE id = $1", user)


@pytest.fixture(scope="session", autouse=True)
def _close_pools_before_postgres_stops(pg_dsn):
    """The functions' process-wide pools live on a background loop; closing them while Postgres is still up
    keeps them from retrying their connection floor (and logging about it) after it stops."""
    yield
    from shared.adapters import postgres

    for key, p in list(postgres._pools.items()):
        try:
            run(p.close())
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass
        postgres._pools.pop(key, None)

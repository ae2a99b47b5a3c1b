"""Fixtures for the catalogue's integration tests: the exported encoder, a fresh Qdrant per test, and a Postgres
pool helper (asyncpg pools are bound to the loop that made them, so each test opens its own)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
DEMO_DATA = REPO_ROOT / "emulators" / "demo_data"


@pytest.fixture(scope="session")
def encoder_ready():
    """The ONNX export is an install step (make); export here only when it is missing."""
    from shared.engine.embeddings.export import export, is_current

    if not is_current():
        export()
    return True


@pytest.fixture
def qdrant_path(tmp_path, monkeypatch):
    """Qdrant local mode on disk for code that builds its client from QDRANT_URL."""
    from shared.settings import get_settings

    from shared.adapters import qdrant

    monkeypatch.setenv("QDRANT_URL", f"path:{tmp_path / 'qdrant'}")
    get_settings.cache_clear()
    yield tmp_path / "qdrant"
    qdrant.get_qdrant().close()  # release the local store's lock before the folder goes
    qdrant._cached.cache_clear()
    get_settings.cache_clear()


def run(coro):
    return asyncio.run(coro)


async def with_pool(fn):
    from shared.adapters.postgres import create_pool

    pool = await create_pool()
    try:
        return await fn(pool)
    finally:
        await pool.close()


async def reset_city(city_id: str) -> None:
    async def go(pool):
        async with pool.acquire() as conn:
            # Trips and groups planned on this city (by other tests sharing the session database) go first: their
            # rows reference the venues and the city being removed.
            await conn.execute("DELETE FROM trips WHERE city_id = $1", city_id)
            await conn.execute("DELETE FROM groups WHERE city_id = $1", city_id)
            await conn.execute("DELETE FROM scraped_posts WHERE city_id = $1", city_id)
            await conn.execute("DELETE FROM activity_nodes WHERE city_id = $1", city_id)
            await conn.execute("DELETE FROM cities WHERE id = $1", city_id)

    await with_pool(go)

"""A small synthetic city in the real stand-ins (Postgres, Qdrant, Redis of the session stack), so the
planner's store and cache logic is tested without waiting for a real city to be seeded.

The vibe encoder is replaced by the deterministic bag-of-words one of the unit tests (venue vectors are
made with the same one, so user and item vectors share a space, as with the real encoder)."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.unit.trips.trips_synthetic import fake_encode, make_venues

CITY = "trips-testville"


def _point_id(venue_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"activity_node:{venue_id}"))


async def _seed_pg(dsn: str, venues) -> None:
    from shared.adapters.postgres import create_pool

    pool = await create_pool(dsn)
    try:
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM itinerary_slots WHERE trip_id IN (SELECT id FROM trips WHERE city_id=$1)", CITY)
            await conn.execute("DELETE FROM trips WHERE city_id = $1", CITY)
            await conn.execute("DELETE FROM activity_nodes WHERE city_id = $1", CITY)
            await conn.execute(
                "INSERT INTO cities (id, name, seeded_at, venue_count) VALUES ($1, 'Testville', now(), $2) "
                "ON CONFLICT (id) DO UPDATE SET seeded_at = now(), venue_count = $2", CITY, len(venues))
            await conn.executemany(
                "INSERT INTO activity_nodes (id, city_id, name, category, description, vibe_embedding, vibe_tags,"
                " quality_signals, overrated_flag, lat, lon, hours, price_level) VALUES"
                " ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
                [(f"{CITY}:{v.id}", CITY, v.name, v.category, f"{v.name} in Testville", v.vector, list(v.tags),
                  {"quality": v.quality}, v.overrated, v.lat, v.lon, v.hours, v.price_level) for v in venues])
    finally:
        await pool.close()


def _seed_qdrant(venues) -> None:
    from qdrant_client import models

    from shared.adapters.qdrant import get_qdrant

    q = get_qdrant()
    name = f"venues_{CITY}"
    if q.collection_exists(name):
        q.delete_collection(name)
    q.create_collection(name, vectors_config={"vibe": models.VectorParams(size=64, distance=models.Distance.COSINE)})
    q.upsert(name, points=[
        models.PointStruct(id=_point_id(f"{CITY}:{v.id}"), vector={"vibe": v.vector.tolist()},
                           payload={"id": f"{CITY}:{v.id}", "city": CITY, "category": v.category, "tags": list(v.tags),
                                    "price": v.price_level, "coordinates": {"lat": v.lat, "lon": v.lon}})
        for v in venues])


@pytest.fixture(scope="module")
def testville(stack):
    venues = list(make_venues(96, seed=11).values())
    asyncio.run(_seed_pg(stack.env["DATABASE_URL"], venues))
    _seed_qdrant(venues)
    return CITY


@pytest.fixture
def fake_encoder(monkeypatch):
    import shared.domains.travel.trips.ranking as ranking

    monkeypatch.setattr(ranking, "default_vibe_encoder", lambda texts: fake_encode(texts))
    ranking.archetype_persona.cache_clear()
    yield
    ranking.archetype_persona.cache_clear()


def flush_trip_cache(city: str) -> None:
    from shared.adapters.redis_cache import get_redis

    r = get_redis()
    for pattern in (f"rank:*:{city}:*", f"plan:*:{city}:*"):
        for key in r.scan_iter(match=pattern):
            r.delete(key)


def run_planner(coro_fn):
    """Run `coro_fn(deps)` on its own loop and pool (asyncpg pools are loop-bound), letting the
    fire-and-forget tasks it scheduled (LLM usage records) finish before the pool closes."""
    async def wrapper():
        from shared.adapters.postgres import create_pool
        from shared.adapters.qdrant import get_qdrant
        from shared.adapters.redis_cache import get_redis
        from shared.domains.travel.trips.planner import Deps

        pool = await create_pool()
        try:
            return await coro_fn(Deps(pool, get_qdrant(), get_redis()))
        finally:
            await drain()
            await pool.close()

    return asyncio.run(wrapper())


async def drain(timeout: float = 3.0) -> None:
    """Let the tasks scheduled on this loop (other than the caller) finish."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    if others:
        await asyncio.wait(others, timeout=timeout)


def trip_request(city: str, days: int = 3, **kw):
    import datetime as dt

    from shared.domains.travel.trips.schemas import TripRequest

    start = dt.date(2031, 5, 1)
    return TripRequest.model_validate({"city": city, "start_date": start.isoformat(),
                                       "end_date": (start + dt.timedelta(days=days - 1)).isoformat(), **kw})

"""A small synthetic city in the real stand-ins (Postgres, Qdrant, Redis of the session stack), so the
planner's store and cache logic is tested without waiting for a real city to be seeded.

The vibe encoder is replaced by the deterministic bag-of-words one of the unit tests (venue vectors are
made with the same one, so user and item vectors share a space, as with the real encoder)."""
from __future__ import annotations

import asyncio

import pytest

from tests.synthetic_city import index_city, store_city
from tests.unit.trips.trips_synthetic import fake_encode, make_venues

CITY = "trips-testville"


@pytest.fixture(scope="module")
def testville(stack):
    venues = list(make_venues(96, seed=11).values())
    asyncio.run(store_city(stack.env["DATABASE_URL"], CITY, "Testville", venues, drop_trips=True))
    index_city(CITY, venues)
    return CITY


@pytest.fixture
def fake_encoder(monkeypatch):
    import shared.domains.travel.trips.ranking as ranking

    monkeypatch.setattr(ranking, "default_vibe_encoder", lambda texts: fake_encode(texts))
    ranking.archetype_persona.cache_clear()
    yield
    ranking.archetype_persona.cache_clear()


def hold_prewarm(city: str) -> None:
    """Mark the city's prewarm as already enqueued for this hour and the next, so planning here enqueues none:
    the prewarm function would otherwise rank the city in its own process, later, behind other tests' backs."""
    import time

    from shared.adapters.redis_cache import get_redis
    from shared.engine.serving.cache import KEY_VERSION

    bucket = int(time.time() // 3600)
    for b in (bucket, bucket + 1):
        get_redis().set(f"prewarm:enqueued:{KEY_VERSION}:{city}:{b}", "1", ex=7200)


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
        from shared.adapters.qdrant import get_async_qdrant
        from shared.adapters.redis_cache import get_async_redis
        from shared.domains.travel.trips.planner import Deps

        pool = await create_pool()
        deps = Deps(pool, get_async_qdrant(), get_async_redis())
        try:
            return await coro_fn(deps)
        finally:
            await drain()
            await pool.close()
            await deps.redis.aclose()  # their connections belong to this loop, which ends here
            await deps.qdrant.close()

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


async def become_companions(pool, inviter: str, invitee: str) -> None:
    """The consent a group trip needs, given the way a user gives it: an invitation code, accepted."""
    from shared.domains.travel.trips import companions

    async with pool.acquire() as conn:
        invite = await companions.create_invite(conn, inviter)
        await companions.accept_invite(conn, invite["code"], invitee)

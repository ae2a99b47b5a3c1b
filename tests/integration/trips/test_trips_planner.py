"""The planner against the real stand-ins: Postgres, Qdrant (REST), Redis, Pub/Sub emulator."""
from __future__ import annotations


import pytest

from shared.api.http import from_domain_error
from shared.domains.errors import DomainError
from tests.integration.trips.conftest import (become_companions, flush_trip_cache, run_planner as _run,
                                           trip_request as _req)

pytestmark = pytest.mark.integration


def _counters():
    from shared.adapters.redis_cache import get_redis
    from shared.engine.serving.cache import read_counters

    return read_counters(get_redis())


def test_plan_is_cached_per_archetype_and_pivots_need_no_ranker(testville, fake_encoder):
    from shared.domains.travel.trips.pivots import pivot
    from shared.domains.travel.trips.planner import plan_trip
    from shared.domains.travel.trips.schemas import PivotRequest

    flush_trip_cache(testville)
    tags = {"food": ["ramen", "coffee"], "pace": "slow"}

    async def go(deps):
        first, v1 = await plan_trip(deps, "it-user-1", _req(testville, tags=tags))
        after_first = _counters()
        second, v2 = await plan_trip(deps, "it-user-1", _req(testville, tags=tags))
        after_second = _counters()
        slot = first["days"][0]["slots"][0]
        async with deps.pool.acquire() as conn:
            piv = await pivot(conn, deps.qdrant, deps.redis, first["trip_id"], "it-user-1",
                              PivotRequest(type="venue_closed", slot_id=slot["slot_id"]))
            mood = await pivot(conn, deps.qdrant, deps.redis, first["trip_id"], "it-user-1",
                               PivotRequest(type="mood", mood="cultural", day=2))
        after_pivots = _counters()
        return first, second, after_first, after_second, after_pivots, piv, mood, slot

    first, second, c1, c2, c3, piv, mood, slot = _run(go)
    assert first["served_by"] == "heuristic" and first["fallback_reason"] == "no_anthropic_key"
    assert first["cache"] == {"hit": False, "ranker_calls": 1}
    assert second["cache"] == {"hit": True, "ranker_calls": 0}
    assert c2 == c1 and c3 == c2  # the cache hit and both pivots made no ranker call
    for day in first["days"]:
        assert len(day["slots"]) >= 2
    ids = [s["venue"]["id"] for d in first["days"] for s in d["slots"]]
    assert len(ids) == len(set(ids))
    assert piv["served_by"] == "precomputed_fallback" and piv["changed"][0]["venue"]["id"] != slot["venue"]["id"]
    assert piv["changed"][0]["venue"]["id"] not in ids
    assert mood["served_by"] == "vector_search"


def test_group_trip_represents_both_members(testville, fake_encoder):
    from shared.domains.travel.trips.planner import plan_trip

    async def go(deps):
        await plan_trip(deps, "it-outdoors", _req(testville, tags={"interests": ["hiking", "parks", "outdoors"]}))
        await become_companions(deps.pool, "it-outdoors", "it-food")
        return await plan_trip(deps, "it-food", _req(testville, days=2, group_user_ids=["it-outdoors"],
                                                     tags={"food": ["ramen", "coffee", "seafood"]}))

    body, _ = _run(go)
    slots = [s for d in body["days"] for s in d["slots"]]
    assert {u for s in slots for u in s["serves"]} == {"it-food", "it-outdoors"}
    # the other member is named, but their persona is theirs
    assert body["members"][0] == {"user_id": "it-food", "you": True, "archetype": body["members"][0]["archetype"],
                                  "state": "cold"}
    assert body["members"][1] == {"user_id": "it-outdoors", "you": False}
    tags = [set(s["venue"]["tags"]) for s in slots]
    assert any(t & {"global-cuisine", "coffee", "seafood"} for t in tags)
    assert any(t & {"outdoors", "nature", "active"} for t in tags)


def test_trips_are_private_and_bad_input_names_the_field(testville, fake_encoder):
    from shared.domains.travel.trips import store
    from shared.domains.travel.trips.planner import plan_trip

    async def go(deps):
        body, _ = await plan_trip(deps, "it-owner", _req(testville, tags=["museums"]))
        async with deps.pool.acquire() as conn:
            mine = await store.load_trip_for(conn, body["trip_id"], "it-owner")
            theirs = await store.load_trip_for(conn, body["trip_id"], "it-stranger")
        errors = {}
        for name, req in (("city", _req("atlantis-nowhere")), ("tags", _req(testville, tags={"food": ["gravel"]})),
                          ("group", _req(testville, group_user_ids=["nobody-here"]))):
            try:
                await plan_trip(deps, "it-owner", req)
            except DomainError as exc:
                errors[name] = (from_domain_error(exc).status, exc.field)
        return mine, theirs, errors

    mine, theirs, errors = _run(go)
    assert mine is not None and theirs is None
    assert errors == {"city": (400, "city"), "tags": (400, "tags.food[0]"), "group": (400, "group_user_ids[0]")}

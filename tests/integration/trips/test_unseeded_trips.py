"""A city with no catalogue: the planner falls back to the cache-first Places client (against a local fake
that speaks the Places API's wire format), says so in the response, and still represents every group member."""
from __future__ import annotations

import pytest

from tests.fakes.places_server import FakePlaces, place
from tests.integration.trips.conftest import become_companions, run_planner as _run, trip_request as _req

pytestmark = pytest.mark.integration
CITY = "trips-placesburg"
FOOD = {"food": ["ramen", "coffee"], "pace": "slow"}
OUTDOORS = {"interests": ["parks", "hiking"], "pace": "slow"}


def _places() -> list[dict]:
    """A small town in the fake: cafes, ramen shops, parks, trails and a museum, spread over a few km."""
    kinds = [("cafe", "Cafe"), ("ramen_restaurant", "Ramen restaurant"), ("park", "Park"), ("hiking_area", "Trail"),
             ("museum", "Museum"), ("bar", "Bar")]
    out = []
    for i in range(36):
        kind, word = kinds[i % len(kinds)]
        out.append(place(f"ChIJ-pb-{i}", f"Placesburg {word} {i}", lat=45.50 + 0.004 * (i % 7),
                         lon=-122.65 + 0.005 * (i // 7), types=[kind, "point_of_interest"],
                         rating=3.8 + (i % 5) * 0.25, address=f"{i} Main St, Placesburg"))
    return out


@pytest.fixture
def placesburg(stack, monkeypatch):
    """An unseeded city row (known, never seeded) and the Places settings pointed at the fake."""
    from shared.settings import get_settings

    with FakePlaces(places=_places()) as fake:
        monkeypatch.setenv("PLACES_API_KEY", fake.api_key)
        monkeypatch.setenv("PLACES_BASE_URL", fake.base_url)
        get_settings.cache_clear()

        async def reset(deps):
            await deps.pool.execute("DELETE FROM places_api_cache")
            await deps.pool.execute(
                "INSERT INTO cities (id, name, seeded_at, venue_count) VALUES ($1, 'Placesburg', NULL, 0) "
                "ON CONFLICT (id) DO UPDATE SET seeded_at = NULL, venue_count = 0", CITY)

        _run(reset)
        yield fake
    get_settings.cache_clear()


def test_unseeded_city_is_planned_from_places_and_says_so(placesburg, fake_encoder):
    from shared.domains.travel.trips.planner import plan_trip

    async def go(deps):
        return await plan_trip(deps, "unseeded-solo", _req(CITY, tags=FOOD))

    body, version = _run(go)
    assert body["catalogue"] == "places_fallback" and body["fallback_reason"] == "city_not_seeded"
    assert version == body["model_version"] and "places" in version and body["served_by"] == "heuristic"
    assert placesburg.calls and all(path == "/v1/places:searchText" for _, path, _ in placesburg.calls)
    for day in body["days"]:
        assert len(day["slots"]) >= 2
        assert all(s["venue"]["id"].startswith("places:") and not s["venue"]["catalogued"] for s in day["slots"])
    breakfasts = [s["venue"] for d in body["days"] for s in d["slots"] if s["kind"] == "breakfast"]
    assert breakfasts and all("coffee" in v["tags"] for v in breakfasts)


def test_unseeded_group_trip_represents_every_member(placesburg, fake_encoder):
    from shared.domains.travel.trips.members import ensure_persona
    from shared.domains.travel.trips.planner import plan_trip
    from shared.domains.travel.trips.tags import parse_tags

    async def go(deps):
        async with deps.pool.acquire() as conn:
            await ensure_persona(deps.pool, conn, "unseeded-hiker", parse_tags(OUTDOORS))
        await become_companions(deps.pool, "unseeded-hiker", "unseeded-foodie")
        return await plan_trip(deps, "unseeded-foodie", _req(CITY, tags=FOOD, group_user_ids=["unseeded-hiker"]))

    body, _ = _run(go)
    slots = [s for d in body["days"] for s in d["slots"]]
    assert body["catalogue"] == "places_fallback" and slots
    assert [m["user_id"] for m in body["members"]] == ["unseeded-foodie", "unseeded-hiker"]
    served = {uid for s in slots for uid in s["serves"]}
    assert served == {"unseeded-foodie", "unseeded-hiker"}
    hiker_tags = {"outdoors", "nature", "active"}
    assert any(hiker_tags & set(s["venue"]["tags"]) for s in slots if "unseeded-hiker" in s["serves"])
    assert any({"coffee", "global-cuisine"} & set(s["venue"]["tags"]) for s in slots if "unseeded-foodie" in s["serves"])

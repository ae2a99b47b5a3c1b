"""Venues the ANN index does not return, end to end through the stores.

Dates decide what can be planned: a venue closed on Sundays (its hours text parsed at seeding into a weekly
schedule, stored on the node) is never planned on a Sunday, and an annual festival only inside its season.
Both are landmarks of the city, so a first visit wants them: if the planner ignored the dates, it would plan
them on the first day. And a traveller's own tags reach past their archetype's pool: a pizzeria that only
Postgres knows is found for a traveller who asked for pizza."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from tests.integration.trips.conftest import flush_trip_cache, run_planner

pytestmark = pytest.mark.integration

MUSEUM = "Calendar Museum"
FESTIVAL = "Midsummer Lantern Festival"
PIZZERIA = "Nonna Lucia"


async def _add_dated_venues(dsn: str, city: str) -> None:
    from shared.adapters.postgres import create_pool
    from shared.domains.travel.catalogue.hours import parse

    from tests.unit.trips.trips_synthetic import fake_encode

    rows = [  # (name, category, venue_type, visit_kind, hours, season, tags, description, landmark)
        (MUSEUM, "sight", "museum", "venue", "10AM-6PM, closed Sundays", None, ["museum", "art", "historic"],
         "The city's best-known museum.", True),
        (FESTIVAL, "activity", "event", "event", "Daily 10AM-10PM", [7], ["art", "lively", "outdoors"],
         "The city's best-known festival.", True),
        (PIZZERIA, "food", "restaurant", "venue", "Daily 11AM-10PM", None, ["local-favourite"],
         "Wood-fired pizza since 1962.", False),
    ]
    pool = await create_pool(dsn)
    try:
        async with pool.acquire() as conn:
            for name, cat, vtype, kind, hours, season, tags, description, landmark in rows:
                await conn.execute(
                    "INSERT INTO activity_nodes (id, city_id, name, category, description, vibe_embedding, vibe_tags,"
                    " quality_signals, lat, lon, hours, opening, hours_status, venue_type, visit_kind, season_months,"
                    " plannable, landmark, prominence, coord_precision) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,"
                    " $12,'parsed',$13,$14,$15,true,$16,0.9,'exact') ON CONFLICT (id) DO NOTHING",
                    f"{city}:{name}", city, name, cat, description,
                    fake_encode([" ".join(tags)])[0], tags, {"quality": 0.95}, 47.600, -122.330, hours,
                    parse(hours).to_json(), vtype, kind, season, landmark)
    finally:
        await pool.close()


@pytest.fixture(scope="module")
def dated_city(stack, testville):
    asyncio.run(_add_dated_venues(stack.env["DATABASE_URL"], testville))
    yield testville
    flush_trip_cache(testville)  # later modules must not be served the plans made here


def _plan(city: str, user: str, start: dt.date, days: int, tags: dict) -> dict:
    from shared.domains.travel.trips.planner import plan_trip
    from shared.domains.travel.trips.schemas import TripRequest

    flush_trip_cache(city)
    req = TripRequest.model_validate({"city": city, "start_date": start.isoformat(),
                                      "end_date": (start + dt.timedelta(days=days - 1)).isoformat(), "tags": tags})
    body, _ = run_planner(lambda deps: plan_trip(deps, user, req))
    return body


def _days_with(body: dict, name: str) -> list[str]:
    return [d["weekday"] for d in body["days"] for s in d["slots"] if s["venue"]["name"] == name]


def test_a_venue_closed_on_sundays_is_never_planned_on_a_sunday(dated_city, fake_encoder):
    sunday = dt.date(2031, 6, 1)
    assert sunday.weekday() == 6
    body = _plan(dated_city, "it-dated-sunday", sunday, 2, {"interests": ["museums", "art", "history"]})
    assert [d["weekday"] for d in body["days"]] == ["Sunday", "Monday"]
    assert _days_with(body, MUSEUM) == ["Monday"]
    monday = next(s for s in body["days"][1]["slots"] if s["venue"]["name"] == MUSEUM)
    assert "10:00" <= monday["arrive"] and monday["depart"] <= "18:00"
    assert any(c["type"] == "hours" and c["listed"] == "10AM-6PM, closed Sundays" for c in monday["claims"])


def test_an_annual_festival_is_planned_only_in_its_season(dated_city, fake_encoder):
    tags = {"interests": ["art", "outdoors"], "vibe": ["lively"]}
    july = _plan(dated_city, "it-dated-july", dt.date(2031, 7, 8), 3, tags)
    may = _plan(dated_city, "it-dated-may", dt.date(2031, 5, 6), 3, tags)
    assert _days_with(july, FESTIVAL), "in July, its season, the festival is one of the trip's landmarks"
    assert _days_with(may, FESTIVAL) == []
    festival = next(s for d in july["days"] for s in d["slots"] if s["venue"]["name"] == FESTIVAL)
    assert any(c["type"] == "season" and c["months"] == [7] for c in festival["claims"])


def test_a_travellers_own_tags_find_venues_outside_the_ranked_pool(dated_city, fake_encoder):
    body = _plan(dated_city, "it-pizza", dt.date(2031, 6, 3), 2, {"food": ["pizza"]})
    meals = [s for d in body["days"] for s in d["slots"] if s["venue"]["name"] == PIZZERIA]
    assert meals and meals[0]["kind"] in ("lunch", "dinner")
    assert any(c["type"] == "matches" and c["tag"] == "pizza" for c in meals[0]["claims"])

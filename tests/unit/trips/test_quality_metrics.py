"""The itinerary benchmark's measures (trips/quality.py): a trip planned by the real assembly passes them,
and each thing a traveller would reject, planted into that trip, is counted."""
from __future__ import annotations

import copy
import datetime as dt

import pytest

from shared.domains.travel.trips.persona import Persona
from shared.domains.travel.trips.quality import Tally
from shared.domains.travel.trips.tags import parse_tags
from shared.domains.travel.trips.trip_slots import build_slots
from shared.domains.travel.trips.view import render_days

from tests.unit.trips.test_day_model import city, plan_for
from tests.unit.trips.test_narratives import node_of

pytest.importorskip("shared.domains.travel.catalogue.hours")
TAGS = {"food": ["seafood", "coffee"], "interests": ["museums", "nightlife"], "pace": "moderate"}
START = dt.date(2031, 6, 1)


@pytest.fixture(scope="module")
def planned():
    pool = city()
    next(c for c in pool.values() if c.extra["venue_type"] == "viewpoint").extra["landmark"] = True
    plan = plan_for(pool, TAGS, start=START)
    persona = Persona(parse_tags(TAGS), "", "template", "foodie", None)
    stored = build_slots("trp_q", plan, [("u1", persona, 0)], "heuristic-v1", "seattle")
    trip = {"city": {"id": "seattle"}, "days": render_days("seattle", START, 3, stored)}
    nodes = {c.id: node_of(c) | {"id": c.id, "category": c.category, "plannable": c.extra.get("plannable", True),
                                 "visit_kind": c.extra.get("visit_kind", "venue")} for c in pool.values()}
    return trip, nodes


def tally_of(trip, nodes, tags=TAGS) -> dict:
    t = Tally()
    t.add(trip, parse_tags(tags), nodes, latency_ms=100.0)
    return t.summary()


def first(trip, kind):
    return next(s for d in trip["days"] for s in d["slots"] if s["kind"] == kind)


def test_a_planned_trip_passes_every_measure(planned):
    s = tally_of(*planned)
    ohv = s["open_hours_violations"]
    assert ohv["listed_hours_slots"] > 0 and ohv["typical_hours_slots"] > 0
    assert (ohv["listed_violations"], ohv["typical_violations"], ohv["events_out_of_season"],
            ohv["unplannable_planned"]) == (0, 0, 0, 0)
    assert s["bars_before_16"] == 0 and s["restaurants_outside_meal_windows"] == 0
    assert s["lunch_coverage"] == 1.0 and s["dinner_coverage"] == 1.0
    assert s["median_last_arrival_nightlife"] >= "21:15" and s["median_last_arrival"] is None
    assert s["false_claim_rate"] == 0.0 and s["coordinates"]["share"] == 1.0
    assert s["tag_match"]["slots_with_applicable_tags"] > 0 and s["tag_match"]["rate"] > 0.5
    assert 0 < s["tag_match"]["tag_coverage"] <= 1
    assert s["landmark_coverage"] == {"rate": 1.0, "first_visit_trips_2d_plus": 1}
    assert s["latency_ms"]["p95"] == 100.0


def test_a_bar_in_the_morning_and_a_restaurant_at_four_are_counted(planned):
    trip, nodes = copy.deepcopy(planned)
    night, dinner = first(trip, "night"), first(trip, "dinner")
    night["arrive"], night["depart"] = "10:00", "11:00"
    dinner["arrive"], dinner["depart"] = "16:00", "17:30"
    s = tally_of(trip, nodes)
    assert s["bars_before_16"] == 1 or nodes[night["venue"]["id"]]["venue_type"] not in ("bar", "pub", "club")
    assert s["restaurants_outside_meal_windows"] == 1
    assert s["dinner_coverage"] < 1.0
    assert s["false_claim_rate"] > 0  # the narratives still state the old times
    assert any("16:00" in e for e in s["examples"]["restaurants_outside_meals"])


def test_a_stop_on_a_closed_day_is_a_violation(planned):
    trip, nodes = copy.deepcopy(planned)
    lunch = first(trip, "lunch")
    node = nodes[lunch["venue"]["id"]]
    from shared.domains.travel.catalogue.hours import parse

    node["opening"] = parse("Sa-Su 18:00-22:00").to_json()  # evenings only: a lunch cannot be inside
    s = tally_of(trip, nodes)
    assert s["open_hours_violations"]["listed_violations"] >= 1
    assert any(lunch["venue"]["name"] in e for e in s["examples"]["closed_listed"])


def test_events_out_of_season_and_services_are_counted(planned):
    trip, nodes = copy.deepcopy(planned)
    visit = first(trip, "visit")
    nodes[visit["venue"]["id"]].update(visit_kind="event", season_months=[12])
    lunch = first(trip, "lunch")
    nodes[lunch["venue"]["id"]].update(plannable=False, plannable_reason="service: gym")
    s = tally_of(trip, nodes)["open_hours_violations"]
    assert s["events_out_of_season"] == 1 and s["unplannable_planned"] == 1


def test_missing_coordinates_distance_and_tag_misses_show(planned):
    trip, nodes = copy.deepcopy(planned)
    visit = first(trip, "visit")
    visit["venue"]["lat"] = visit["venue"]["lon"] = None
    s = tally_of(trip, nodes)
    assert s["coordinates"]["share"] < 1.0
    unrelated = tally_of(planned[0], planned[1], {"interests": ["beaches"], "pace": "moderate"})
    assert unrelated["tag_match"]["rate"] < s["tag_match"]["rate"]
    assert unrelated["examples"]["tag_miss"]


def test_concentration_counts_trips_not_stops_and_spares_landmarks(planned):
    trip, nodes = planned
    landmark = next(s for d in trip["days"] for s in d["slots"] if nodes[s["venue"]["id"]]["landmark"])
    only_landmark = {"city": trip["city"], "days": [{**trip["days"][0], "slots": [landmark], "km": 0.0}]}
    t = Tally()
    for one in (trip, trip, trip, only_landmark):
        t.add(one, parse_tags(TAGS), nodes)
    c = t.concentration()
    assert c["top"][0] == {"venue": landmark["venue"]["name"], "id": landmark["venue"]["id"], "trips": 4,
                           "share": 1.0, "landmark": True}
    assert c["top_non_landmark_share"] == 0.75


def test_a_miss_the_city_could_not_have_avoided_is_told_apart(planned):
    from shared.domains.travel.trips.quality import servable_pairs

    trip, nodes = planned
    sports = {"interests": ["sports"], "pace": "moderate"}  # the synthetic city has no stadium
    assert ("sports", "visit") not in servable_pairs(list(nodes.values()), ["sports"])
    assert ("seafood", "dinner") in servable_pairs(list(nodes.values()), ["seafood"])
    t = Tally()
    t.add(trip, parse_tags(sports), nodes, servable=servable_pairs(list(nodes.values()), ["sports"]))
    s = t.summary()["tag_match"]
    assert s["rate"] == 0.0 and s["misses_with_no_venue_in_city"] == s["slots_with_applicable_tags"] > 0
    assert s["rate_where_the_city_has_a_venue"] is None

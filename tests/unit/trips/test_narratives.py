"""Narratives are rendered claims, and the checker verifies each claim against the catalogue row: every slot
of a planned trip passes, and each kind of false claim is caught."""
from __future__ import annotations

import copy

import pytest

from shared.domains.travel.trips.narrative import check_claims, whole_sentences
from shared.domains.travel.trips.persona import Persona
from shared.domains.travel.trips.tags import parse_tags
from shared.domains.travel.trips.trip_slots import build_slots
from shared.domains.travel.trips.view import render_slot

from tests.unit.trips.test_day_model import city, plan_for

pytest.importorskip("shared.domains.travel.catalogue.hours")
TAGS = {"food": ["seafood", "coffee"], "interests": ["museums", "nightlife"], "pace": "fast"}


def node_of(c) -> dict:
    """The activity_nodes row a slot's venue came from, as the checker reads it."""
    import json

    return {"name": c.name, "city_id": "seattle", "venue_type": c.extra["venue_type"], "vibe_tags": list(c.tags),
            "description": c.extra["description"], "hours": c.hours, "landmark": c.extra["landmark"],
            "opening": json.loads(c.extra["opening"]) if c.extra["opening"] else None, "lat": c.lat, "lon": c.lon,
            "season_months": c.extra.get("season_months")}


@pytest.fixture(scope="module")
def trip():
    pool = city()
    plan = plan_for(pool, TAGS)
    persona = Persona(parse_tags(TAGS), "", "template", "foodie", None)
    stored = build_slots("trp_test", plan, [("u1", persona, 0)], "heuristic-v1", "seattle")
    return pool, [render_slot(s) | {"day_number": s["day_number"]} for s in stored]


def _pairs(slots):
    prev = None
    for s in slots:
        yield s, (prev if prev is not None and prev["day_number"] == s["day_number"] else None)
        prev = s


def test_every_claim_of_every_slot_holds(trip):
    pool, slots = trip
    assert slots
    for s, prev in _pairs(slots):
        assert check_claims(s, node_of(pool[s["venue"]["id"]]), prev) == [], s["narrative"]
    text = " ".join(s["narrative"] for s in slots)
    assert "Picked for your interest in" in text and "walk" in text and "Locals sit down for dinner" in text


@pytest.mark.parametrize("tamper, expected", [
    (lambda s: s["claims"].append({"type": "landmark"}), "landmark"),
    (lambda s: s.update(narrative=s["narrative"] + " Michelin-starred."), "says more"),
    (lambda s: s["claims"].__setitem__(0, {**s["claims"][0], "arrive": "06:00"}), "stop claim"),
    (lambda s: s["claims"].append({"type": "matches", "tag": "wine", "evidence": "tag:wine"}), "wine"),
    (lambda s: s["claims"].append({"type": "hours", "listed": "24/7"}), "hours"),
])
def test_false_claims_are_caught(trip, tamper, expected):
    pool, slots = trip
    s = copy.deepcopy(slots[1])
    tamper(s)
    from shared.domains.travel.trips.narrative import render_all

    if "says more" not in expected:
        s["narrative"] = render_all(s["claims"], s["venue"]["name"])
    problems = check_claims(s, node_of(pool[s["venue"]["id"]]), slots[0])
    assert any(expected in p for p in problems), problems


def test_quotes_are_whole_sentences():
    text = "The first sentence is short. The second one runs on and on about the place, its history and more."
    assert whole_sentences(text, 40) == "The first sentence is short."
    assert whole_sentences("No full stop at the end", 100) is None
    assert whole_sentences(text, 500) == text


def test_a_monthly_occasion_says_its_day_and_the_checker_holds_it_to_the_catalogue():
    import datetime as dt
    import json

    import numpy as np

    from shared.domains.travel.catalogue import hours
    from tests.unit.trips.test_day_model import venue

    pool = city()
    walk = venue(902, "landmark", "activity", ("art", "outdoors"), None, "Art Walk", np.random.default_rng(2),
                 quality=1.0, landmark=True)
    walk.extra["opening"] = json.dumps(hours.only_on(hours.typical("landmark"), (1, 3)).to_json(), sort_keys=True)
    walk.retrieval_score = 1.0
    pool[walk.id] = walk
    tags = {"interests": ["art", "outdoors"], "pace": "fast"}
    plan = plan_for(pool, tags, start=dt.date(2031, 6, 4), days=3)
    persona = Persona(parse_tags(tags), "", "template", "art", None)
    stored = build_slots("trp_walk", plan, [("u1", persona, 0)], "heuristic-v1", "seattle")
    slots = [render_slot(s) | {"day_number": s["day_number"]} for s in stored]
    pairs = list(_pairs(slots))
    s, prev = next((s, p) for s, p in pairs if s["venue"]["id"] == walk.id)
    assert "first Thursday of the month only" in s["narrative"]
    assert check_claims(s, node_of(walk), prev) == []
    node = node_of(walk) | {"opening": hours.typical("landmark").to_json()}  # the catalogue has no monthly rule
    assert any("days of the month" in p for p in check_claims(s, node, prev))

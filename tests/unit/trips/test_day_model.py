"""The day model and assembly on a synthetic city: meals at local hours, venues open on the planned date and
time, no bars by day, events only in season, services never, landmarks on a first visit, and narratives
whose every claim the checker accepts (and whose altered claims it rejects)."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from shared.domains.travel.trips.daymodel import local_times, minutes
from shared.domains.travel.trips.evidence import applicable_tags, tag_evidence
from shared.domains.travel.trips.groups import GroupScorer, Member
from shared.domains.travel.trips.itinerary import Trip, assemble
from shared.domains.travel.trips.scoring import combine, derive_combo, personal_by_part
from shared.domains.travel.trips.stops import BAR_TYPES, schedule
from shared.domains.travel.trips.tags import parse_tags
from shared.engine.serving.heuristic import HeuristicRanker
from shared.engine.serving.types import Candidate, RankingContext

from tests.unit.trips.trips_synthetic import fake_encode

hours = pytest.importorskip("shared.domains.travel.catalogue.hours")

# (venue_type, category, tags, listed hours or None, name word)
KINDS = [
    ("cafe", "drink", ("coffee", "cozy"), "Daily 7AM-4PM", "Coffee"),
    ("restaurant", "food", ("global-cuisine", "casual"), "Daily 11AM-10PM", "Ramen"),
    ("restaurant", "food", ("seafood", "upscale"), "Tu-Su 5PM-10PM", "Oyster House"),
    ("restaurant", "food", ("local-favourite",), None, "Bistro"),
    ("bar", "drink", ("cocktails", "nightlife"), "Daily 4PM-2AM", "Lounge"),
    ("museum", "sight", ("museum", "art", "historic"), "Tu-Su 10AM-5PM", "Museum"),
    ("park", "sight", ("outdoors", "scenic", "nature"), None, "Park"),
    ("viewpoint", "sight", ("scenic", "iconic"), None, "Lookout"),
    ("market", "shopping", ("market", "local-favourite"), "Daily 9AM-6PM", "Market"),
    ("shop", "shopping", ("shopping",), "Daily 10AM-6PM", "Baby Boutique"),
    ("dessert", "food", ("sweets",), "Daily 12PM-9PM", "Gelato"),
]


def venue(i: int, vt, cat, tags, listed, word, rng, **extra) -> Candidate:
    opening = hours.parse(listed) if listed else None
    return Candidate(
        id=f"v{i:03d}", name=f"{word} {i}", category=cat, tags=tags, vector=fake_encode([" ".join(tags)])[0],
        retrieval_score=float(rng.uniform(0.2, 0.9)), quality=float(rng.uniform(0.3, 1.0)),
        price_level=int(rng.integers(1, 4)), lat=47.60 + rng.uniform(-0.02, 0.02), lon=-122.33 + rng.uniform(-0.025, 0.025),
        hours=listed, extra={"text": f"{word} {i}".lower(), "description": f"{word} {i} is a {vt} in town. It is nice.",
                             "venue_type": vt, "visit_kind": "venue", "plannable": True, "coord_precision": "exact",
                             "landmark": False,
                             "opening": json.dumps(opening.to_json(), sort_keys=True) if opening else None, **extra})


def city(n: int = 120, seed: int = 5) -> dict[str, Candidate]:
    rng = np.random.default_rng(seed)
    pool = {}
    for i in range(n):
        c = venue(i, *KINDS[i % len(KINDS)], rng)
        pool[c.id] = c
    return pool


def relevance_for(pool, tags):
    t = parse_tags(tags)
    base = [(i.id, i.score) for i in HeuristicRanker().rank(RankingContext("u", 0, tags=t.vibe_terms()), list(pool.values()))]
    personal = personal_by_part(t, None, pool)
    return lambda day, part: combine(derive_combo(base, pool, part, day), personal(part))


def trip_for(tags, start=dt.date(2031, 6, 1), days=3, user="u1", city_id="seattle", **kw) -> Trip:
    return Trip([start + dt.timedelta(days=i) for i in range(days)], parse_tags(tags), local_times(city_id),
                user_key=user, **kw)


def plan_for(pool, tags, **kw):
    return assemble(pool, relevance_for(pool, tags), trip_for(tags, **kw))


@pytest.mark.parametrize("tags", [
    {"food": ["ramen", "coffee"], "pace": "slow"},
    {"interests": ["museums", "art"], "pace": "moderate"},
    {"interests": ["nightlife"], "food": ["cocktails"], "pace": "fast"},
    {},
])
def test_every_day_has_lunch_and_dinner_at_local_hours_and_venues_open_then(tags):
    pool = city()
    trip = trip_for(tags)
    plan = assemble(pool, relevance_for(pool, tags), trip)
    local = local_times("seattle")
    ids = [s.venue.id for s in plan.slots]
    assert len(ids) == len(set(ids))
    for d, date in enumerate(trip.dates, start=1):
        day = [s for s in plan.slots if s.day_number == d]
        kinds = [s.kind for s in day]
        assert "lunch" in kinds and "dinner" in kinds, kinds
        for s in day:
            a, b = minutes(s.arrive), minutes(s.depart)
            assert schedule(s.venue).is_open(date, a, b), (s.venue.name, s.venue.hours, date, s.arrive, s.depart)
            if s.venue.extra["venue_type"] in BAR_TYPES:
                assert a >= 16 * 60, (s.venue.name, s.arrive)
            if s.kind == "lunch":
                assert local.lunch[0] <= a <= local.lunch[1]
            if s.kind == "dinner":
                assert local.dinner[0] <= a <= local.dinner[1]
                assert s.venue.extra["venue_type"] == "restaurant"
        # stops follow one another: nobody is in two places at once, and travel takes its time
        for prev, nxt in zip(day, day[1:]):
            assert minutes(nxt.arrive) >= minutes(prev.depart) + nxt.travel.minutes
        assert minutes(day[-1].arrive) >= 19 * 60 + 30
        if "nightlife" in tags.get("interests", []):
            assert day[-1].kind == "night" and minutes(day[-1].arrive) >= 21 * 60


def test_a_venue_closed_on_sundays_is_never_planned_on_a_sunday():
    pool = city()
    for c in pool.values():  # every museum is closed on Sundays
        if c.extra["venue_type"] == "museum":
            c.hours = "Mo-Sa 10:00-17:00"
            c.extra["opening"] = json.dumps(hours.parse("M-Sa 10AM-5PM").to_json(), sort_keys=True)
    tags = {"interests": ["museums"], "pace": "fast"}
    trip = trip_for(tags, start=dt.date(2031, 6, 7), days=3)  # Saturday, Sunday, Monday
    assert [d.weekday() for d in trip.dates] == [5, 6, 0]
    plan = assemble(pool, relevance_for(pool, tags), trip)
    museums = {s.day_number for s in plan.slots if s.venue.extra["venue_type"] == "museum"}
    assert 2 not in museums and museums, museums


def test_events_only_in_season_and_services_never():
    pool = city()
    rng = np.random.default_rng(1)
    fest = venue(900, "event", "activity", ("live-music", "lively", "outdoors"), None, "Harvest Festival", rng,
                 visit_kind="event", season_months=[9], quality=1.0)
    fest.retrieval_score, fest.quality = 1.0, 1.0
    gym = venue(901, "activity", "activity", ("active",), None, "Hotel Gym", rng, visit_kind="service", plannable=False)
    pool.update({fest.id: fest, gym.id: gym})
    tags = {"interests": ["live_music", "outdoors"], "pace": "fast"}
    in_june = plan_for(pool, tags, start=dt.date(2031, 6, 2))
    in_sept = plan_for(pool, tags, start=dt.date(2031, 9, 8))
    assert fest.id not in {s.venue.id for s in in_june.slots}
    assert fest.id in {s.venue.id for s in in_sept.slots}
    assert gym.id not in {s.venue.id for s in in_june.slots + in_sept.slots}


def test_a_monthly_occasion_is_planned_on_its_day_of_the_month_only():
    """An art walk "on the first Thursday of every month" is never planned on another day, and is on that one."""
    pool = city()
    rng = np.random.default_rng(2)
    walk = venue(902, "landmark", "activity", ("art", "lively", "outdoors"), None, "Art Walk", rng, quality=1.0,
                 landmark=True)
    walk.extra["opening"] = json.dumps(hours.only_on(hours.typical("landmark"), (1, 3)).to_json(), sort_keys=True)
    walk.retrieval_score = 1.0
    pool[walk.id] = walk
    tags = {"interests": ["art", "outdoors"], "pace": "fast"}
    planned = lambda start, days: [s for s in plan_for(pool, tags, start=start, days=days).slots  # noqa: E731
                                   if s.venue.id == walk.id]
    assert not planned(dt.date(2031, 6, 7), 4)  # Saturday 7 to Tuesday 10 June: no first Thursday
    on = planned(dt.date(2031, 6, 4), 3)  # Wednesday 4 to Friday 6: Thursday 5 June is the first
    assert [s.day_number for s in on] == [2]


def test_shops_are_visits_only_for_travellers_who_asked_for_shopping():
    pool = city()
    plain = plan_for(pool, {"interests": ["art"], "pace": "fast"})
    shopper = plan_for(pool, {"interests": ["shopping"], "pace": "fast"})
    assert not any(s.venue.extra["venue_type"] == "shop" for s in plain.slots)
    assert any(s.venue.extra["venue_type"] == "shop" for s in shopper.slots)


def test_first_visit_includes_a_landmark_and_tag_evidence_leads_the_choice():
    pool = city()
    mark = next(c for c in pool.values() if c.extra["venue_type"] == "viewpoint")
    mark.extra["landmark"] = True
    tags = {"food": ["seafood"], "pace": "moderate"}
    plan = plan_for(pool, tags, start=dt.date(2031, 6, 3))  # Tu-Th: the seafood places are open
    assert mark.id in {s.venue.id for s in plan.slots}
    dinners = [s for s in plan.slots if s.kind == "dinner"]
    assert all(tag_evidence(s.venue, applicable_tags(parse_tags(tags), "dinner")) for s in dinners)


def test_a_first_visit_gets_one_must_see_landmark_and_further_ones_only_when_they_match_the_tags():
    """An outdoors traveller on a four-day trip sees one of the city's museums if the museums are all its landmarks,
    not two; a landmark park may come on top, since it matches."""
    pool = city()
    museums = [c for c in pool.values() if c.extra["venue_type"] == "museum"][:4]
    for c in museums:
        c.extra["landmark"] = True
    tags = {"interests": ["parks", "nature"], "pace": "moderate"}
    plan = plan_for(pool, tags, start=dt.date(2031, 6, 3), days=4)  # Tu-Fr: the museums are open
    planned_museums = [s for s in plan.slots if s.venue.id in {c.id for c in museums}]
    assert len(planned_museums) == 1

    park = next(c for c in pool.values() if c.extra["venue_type"] == "park")
    park.extra["landmark"] = True
    plan = plan_for(pool, tags, start=dt.date(2031, 6, 3), days=4)
    landmarks = [s.venue for s in plan.slots if s.venue.extra["landmark"]]
    wanted = applicable_tags(parse_tags(tags), "visit")
    assert park in landmarks and len([v for v in landmarks if not tag_evidence(v, wanted)]) <= 1


def test_travellers_with_the_same_tags_get_different_days_and_a_traveller_the_same():
    pool = city()
    tags = {"interests": ["parks", "museums"], "pace": "moderate"}
    a1, a2 = plan_for(pool, tags, user="alice"), plan_for(pool, tags, user="alice")
    b = plan_for(pool, tags, user="bob")
    ids = lambda p: [s.venue.id for s in p.slots]  # noqa: E731
    assert ids(a1) == ids(a2) and ids(a1) != ids(b)


def test_dates_change_the_plan():
    pool = city()
    tags = {"interests": ["museums", "art"], "pace": "fast"}
    monday = plan_for(pool, tags, start=dt.date(2031, 6, 2), days=1)    # museums open Tu-Su
    tuesday = plan_for(pool, tags, start=dt.date(2031, 6, 3), days=1)
    assert not any(s.venue.extra["venue_type"] == "museum" for s in monday.slots)
    assert any(s.venue.extra["venue_type"] == "museum" for s in tuesday.slots)


def test_group_compromise_represents_both_members():
    pool = city()
    food = relevance_for(pool, {"food": ["ramen", "coffee", "seafood"]})
    outdoors = relevance_for(pool, {"interests": ["parks", "outdoors"]})
    scorer = GroupScorer([Member("alice", food), Member("bob", outdoors)])
    plan = assemble(pool, scorer.relevance, trip_for({"food": ["seafood"], "interests": ["parks"]}, days=2),
                    on_pick=scorer.on_pick)
    assert {u for s in plan.slots for u in s.serves} == {"alice", "bob"}


def test_empty_city_has_a_reason():
    plan = assemble({}, lambda d, p: {}, trip_for({}, days=2))
    assert plan.slots == [] and plan.empty_reason


def test_fallbacks_fit_the_same_stop_and_are_not_in_the_trip():
    pool = city()
    plan = plan_for(pool, {"food": ["ramen"], "pace": "slow"})
    taken = {s.venue.id for s in plan.slots}
    for s in plan.slots:
        alts = plan.fallbacks[f"{s.day_number}:{s.slot_order}"]["venue_closed"]
        assert alts and not {a["id"] for a in alts} & taken
        if s.kind == "dinner":
            assert all(a["venue_type"] == "restaurant" for a in alts)


def _waits(plan) -> list[int]:
    by_day: dict[int, list] = {}
    for s in plan.slots:
        by_day.setdefault(s.day_number, []).append(s)
    return [minutes(b.arrive) - minutes(a.depart) - (b.travel.minutes if b.travel else 0)
            for day in by_day.values() for a, b in zip(day, day[1:])]


def test_a_long_wait_gets_a_break_near_the_previous_stop():
    from shared.domains.travel.trips import itinerary
    from shared.domains.travel.trips.geo import haversine_km
    from shared.domains.travel.trips.stops import BREAK_TYPES, effective_type

    tags = {"interests": ["museums"], "pace": "slow"}  # museums close at 17:00, dinner is at 19:30
    pool = city()
    with_breaks = plan_for(pool, tags, start=dt.date(2031, 6, 3))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(itinerary, "MAX_FILLERS", 0)
        without = plan_for(city(), tags, start=dt.date(2031, 6, 3))
    breaks = [(i, s) for i, s in enumerate(with_breaks.slots) if s.kind == "break"]
    assert breaks and max(_waits(with_breaks)) < max(_waits(without))
    for _, s in breaks:
        others = [p for p in with_breaks.slots if p.day_number == s.day_number and p is not s]
        assert min(haversine_km((p.venue.lat, p.venue.lon), (s.venue.lat, s.venue.lon)) for p in others) <= 1.5
        assert effective_type(s.venue) in BREAK_TYPES or s.matched


def test_a_first_visit_landmark_matches_the_tags_when_one_can():
    pool = city()
    viewpoint = next(c for c in pool.values() if c.extra["venue_type"] == "viewpoint")
    museum = next(c for c in pool.values() if c.extra["venue_type"] == "museum")
    for c in (viewpoint, museum):
        c.extra["landmark"] = True
    museum.lat, museum.lon = viewpoint.lat, viewpoint.lon + 0.001  # equally far from anything
    tags = {"interests": ["views"], "pace": "moderate"}
    base = relevance_for(pool, tags)

    def museum_first(day, part):  # the ranker prefers the museum by far
        return {vid: s + (3.0 if vid == museum.id else 0.0) for vid, s in base(day, part).items()}

    plan = assemble(pool, museum_first, trip_for(tags, start=dt.date(2031, 6, 3), days=2))
    first_landmark = next(s for s in plan.slots if s.venue.extra.get("landmark"))
    assert first_landmark.venue.id == viewpoint.id  # the one with evidence for "views"


def test_breakfast_starts_the_day():
    from shared.domains.travel.trips.daymodel import day_template

    template = day_template("slow", {"coffee"}, local_times("seattle"))
    breakfast = next(s for s in template if s.kind == "breakfast")
    assert all(s.earliest >= breakfast.earliest + 30 for s in template if s.kind == "visit")
    pool = city()
    days: dict[tuple, list] = {}
    for user in ("u1", "u2", "u3", "u4", "u5", "u6"):
        for pace in ("slow", "fast"):
            plan = plan_for(pool, {"food": ["coffee"], "interests": ["museums", "parks"], "pace": pace},
                            start=dt.date(2031, 6, 3), user=user)
            for s in plan.slots:
                days.setdefault((user, pace, s.day_number), []).append(s)
    with_breakfast = [d for d in days.values() if any(s.kind == "breakfast" for s in d)]
    assert with_breakfast and all(d[0].kind == "breakfast" for d in with_breakfast)


def test_a_dessert_lover_gets_an_afternoon_treat_and_meals_answer_the_other_tags():
    tags = {"food": ["dessert", "seafood"], "pace": "moderate"}
    plan = plan_for(city(), tags, start=dt.date(2031, 6, 3))
    treats = [s for s in plan.slots if s.kind == "treat"]
    assert len(treats) >= 2  # a day with no dessert place within reach has no treat rather than a random café
    assert all(s.venue.extra["venue_type"] == "dessert" and "14:30" <= s.arrive <= "17:30" for s in treats)
    assert applicable_tags(parse_tags(tags), "dinner") == ("seafood",)


def test_exploration_logs_exact_propensities_and_keeps_every_rule():
    """With exploration the logging policy is epsilon-greedy over each stop's best options: the propensities of a
    stop sum to one, the chosen option is one of them, about the configured share of stops explore, a repeated
    request explores the same stops, and the explored plans still keep the day model's rules."""
    pool, tags = city(), {"food": ["ramen", "coffee"], "pace": "slow"}
    explored, decided = 0, 0
    for user in [f"u{i}" for i in range(40)]:
        plan = plan_for(pool, tags, user=user, explore=0.3)
        again = plan_for(pool, tags, user=user, explore=0.3)
        assert [s.venue.id for s in plan.slots] == [s.venue.id for s in again.slots]
        for s in plan.slots:
            d = s.decision
            if d is None:  # fillers (breaks between stops) are not ranked decisions
                continue
            decided += 1
            assert s.venue.id == d["chosen"] and d["chosen"] in d["options"]
            assert abs(sum(d["propensities"]) - 1.0) < 1e-5 and min(d["propensities"]) > 0
            explored += d["chosen"] != d["options"][0]
        trip = trip_for(tags, user=user, explore=0.3)
        for s in plan.slots:
            date = trip.dates[s.day_number - 1]
            assert schedule(s.venue).is_open(date, minutes(s.arrive), minutes(s.depart)), (s.venue.name, date)
            if s.venue.extra["venue_type"] in BAR_TYPES:
                assert minutes(s.arrive) >= 16 * 60
        assert len({s.venue.id for s in plan.slots}) == len(plan.slots)
    # a stop that explores draws uniformly among its options, so 1 in 4 draws lands on the best one again
    assert 0.3 * 0.75 * 0.5 < explored / decided < 0.3 * 0.75 * 1.5, (explored, decided)
    plain = plan_for(pool, tags, user="u1")
    assert all(s.decision is None or s.decision["propensities"][0] == 1.0 for s in plain.slots)


@pytest.mark.parametrize("text, lively", [
    ("jagalchi fish market korea's largest seafood market", True),
    ("street entertainers jackson square", True),
    ("new may wah supermarket groceries", False),
    ("kane street synagogue a quiet congregation", False),
])
def test_lively_by_day_is_a_market_or_street_life_and_never_a_supermarket(text, lively):
    from shared.domains.travel.trips.evidence import evidence_for

    assert bool(evidence_for("lively", [], text)) is lively

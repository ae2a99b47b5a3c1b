import numpy as np
import pytest

from shared.domains.travel.trips.archetypes import assign_archetype
from shared.domains.travel.trips.dayparts import day_part_fit, open_during, parse_hours, visit_window
from shared.domains.travel.trips.geo import haversine_km, order_stops
from shared.domains.travel.trips.groups import GroupScorer, Member
from shared.domains.travel.trips.itinerary import EAT_DRINK, assemble, eat_drink_cap
from shared.domains.travel.trips.persona import build_persona, template_description, user_tower
from shared.domains.travel.trips.scoring import combine, derive_combo, personal_by_part
from shared.domains.travel.trips.tags import TagError, parse_tags
from shared.engine.serving.heuristic import HeuristicRanker
from shared.engine.serving.types import RankingContext

from tests.unit.trips.trips_synthetic import fake_encode, make_venues


def test_tags_accept_both_shapes_and_name_the_bad_field():
    t = parse_tags({"food": ["ramen", "Coffee"], "pace": "slow"})
    assert t.food == ("ramen", "coffee") and t.pace == "slow" and t.slots_per_day == 3
    assert parse_tags(["ramen", "pace:fast", "parks"]).interests == ("parks",)
    for raw, field in [({"food": ["ramen", "gravel"]}, "tags.food[1]"), ({"pace": "warp"}, "tags.pace"),
                       ({"colour": ["red"]}, "tags.colour"), (["ramen", 3], "tags[1]"), ("ramen", "tags")]:
        with pytest.raises(TagError) as err:
            parse_tags(raw)
        assert err.value.field == field


def test_archetypes():
    assert assign_archetype(parse_tags({"food": ["ramen", "coffee"], "pace": "slow"})) == "foodie"
    assert assign_archetype(parse_tags({"interests": ["hiking", "parks"], "food": ["coffee"]})) == "outdoors"
    assert assign_archetype(parse_tags({"interests": ["museums"]})) == "culture"
    assert assign_archetype(parse_tags({})) == "culture"


def test_hours_and_day_part_fit():
    assert parse_hours("Daily 10AM-6PM") == (10.0, 18.0)
    assert parse_hours("M-Sa 11am-2am") == (11.0, 26.0)
    assert parse_hours("8AM to Midnight-Open 365 days a year") == (8.0, 24.0)
    assert parse_hours("Sunrise to sunset") is None
    assert not open_during("5PM-2AM", "morning") and open_during("5PM-2AM", "evening")
    assert open_during(None, "morning")
    assert day_part_fit("drink", ("cocktails", "nightlife"), "morning") == 0.0
    assert day_part_fit("drink", ("craft-beer",), "evening") == 1.0
    assert day_part_fit("drink", ("coffee", "cozy"), "morning") == 1.0
    assert day_part_fit("drink", ("coffee", "cozy"), "evening") < 0.35
    assert day_part_fit("sight", ("museum",), "afternoon") == 1.0
    assert day_part_fit("lodging", ("boutique-stay",), "evening") == 0.0


def test_order_stops_respects_windows_and_minimises_travel():
    # three afternoon stops on a line: the solver must visit them in line order, not zig-zag
    stops = [(47.60, -122.30), (47.60, -122.34), (47.60, -122.32)]
    order, arrivals = order_stops((47.60, -122.35), stops, [(12, 17)] * 3)
    assert order == [1, 2, 0]
    assert arrivals == sorted(arrivals)
    # an evening stop comes last even when it is nearest the start
    order, _ = order_stops((47.60, -122.35), [(47.60, -122.35), (47.60, -122.30)], [(17, 23), (8, 12)])
    assert order == [1, 0]


def _relevance_for(pool, tags):
    t = parse_tags(tags)
    ctx = RankingContext("u", 0, tags=t.vibe_terms())
    base = [(i.id, i.score) for i in HeuristicRanker().rank(ctx, list(pool.values()))]
    personal = personal_by_part(t, None, pool)
    return lambda day, part: combine(derive_combo(base, pool, part, day), personal(part))


def test_assembly_fits_day_parts_budget_and_never_repeats(venues):
    rel = _relevance_for(venues, {"food": ["ramen", "coffee"], "pace": "moderate"})
    plan = assemble(venues, rel, 3, 4, max_price_level=3)
    assert plan.empty_reason is None
    ids = [s.venue.id for s in plan.slots]
    assert len(ids) == len(set(ids)) == 12
    for s in plan.slots:
        assert day_part_fit(s.venue.category, s.venue.tags, s.day_part) >= 0.35
        assert s.venue.price_level <= 3
        assert open_during(s.venue.hours, s.day_part)
        if s.day_part == "morning":
            assert "nightlife" not in s.venue.tags
    for d in (1, 2, 3):
        day = [s for s in plan.slots if s.day_number == d]
        assert [s.slot_order for s in day] == [1, 2, 3, 4]
        parts = [s.day_part for s in day]
        assert parts == sorted(parts, key=["morning", "afternoon", "evening"].index)
        assert all(s.arrive for s in day)
    # every slot has precomputed fallbacks that are not in the itinerary
    for key, fb in plan.fallbacks.items():
        assert fb["venue_closed"] and not {f["id"] for f in fb["venue_closed"]} & set(ids)


def test_days_are_geographically_coherent(venues):
    rel = _relevance_for(venues, {"interests": ["museums", "parks"]})
    plan = assemble(venues, rel, 3, 3)
    spreads = []
    for d in (1, 2, 3):
        pts = [(s.venue.lat, s.venue.lon) for s in plan.slots if s.day_number == d]
        spreads.append(max(haversine_km(a, b) for a in pts for b in pts))
    # venues are scattered over ~8 km; a day's stops stay much closer together than that on average
    assert np.mean(spreads) < 5.0


def test_empty_itinerary_has_a_reason(venues):
    plan = assemble(venues, lambda d, p: {}, 2, 3)
    assert plan.slots == [] and plan.empty_reason


def test_group_compromise_represents_both_members(venues):
    food = _relevance_for(venues, {"food": ["ramen", "coffee", "seafood"]})
    outdoors = _relevance_for(venues, {"interests": ["hiking", "parks", "outdoors"]})
    scorer = GroupScorer([Member("alice", food), Member("bob", outdoors)])
    plan = assemble(venues, scorer.relevance, 2, 4, on_pick=scorer.on_pick)
    served = {u for s in plan.slots for u in s.serves}
    assert served == {"alice", "bob"}
    tags = [set(s.venue.tags) for s in plan.slots]
    assert any(t & {"global-cuisine", "coffee", "seafood"} for t in tags)
    assert any(t & {"nature", "active", "outdoors"} for t in tags)


def test_persona_template_embedding_and_user_tower():
    tags = parse_tags({"food": ["ramen", "coffee"], "pace": "slow"})
    p = build_persona(tags, fake_encode)
    assert p.description_source == "template" and "ramen and coffee" in p.description
    assert p.embedding.shape == (128,) and p.archetype == "foodie"
    u = user_tower(p.embedding)
    assert u.shape == (64,) and abs(np.linalg.norm(u) - 1) < 1e-5
    assert template_description(tags) == template_description(parse_tags({"pace": "slow", "food": ["ramen", "coffee"]}))
    # the LLM path falls back to the template on failure
    def boom(**kw):
        raise RuntimeError("api down")
    assert build_persona(tags, fake_encode, use_llm=True, llm_call=boom).description_source == "template"
    assert build_persona(tags, fake_encode, use_llm=True, llm_call=lambda **kw: "Loves noodles.").description == "Loves noodles."


def test_places_results_become_generic_candidates():
    from shared.domains.travel.trips.unseeded import candidate_from_place

    c = candidate_from_place({"id": "abc", "displayName": {"text": "Blue Bottle"}, "primaryType": "cafe",
                              "rating": 4.6, "priceLevel": "PRICE_LEVEL_MODERATE",
                              "location": {"latitude": 37.7, "longitude": -122.4}})
    assert c.id == "places:abc" and c.category == "drink" and "coffee" in c.tags
    assert c.price_level == 2 and 0.75 < c.quality <= 1 and c.extra["uncatalogued"]
    assert candidate_from_place({"id": "x"}) is None


def test_tags_count_only_in_their_day_parts():
    t = parse_tags({"food": ["ramen", "coffee"], "interests": ["nightlife"]})
    assert "coffee" in t.keywords("morning") and "ramen" not in t.keywords("morning")
    assert "ramen" in t.keywords("evening") and "coffee" not in t.keywords("evening")
    assert "nightlife" not in t.vibe_terms("morning") and "nightlife" in t.vibe_terms("evening")
    assert set(t.keywords()) == set(t.keywords("morning")) | set(t.keywords("evening"))


def test_food_lover_gets_coffee_mornings_meal_evenings_and_something_to_do(venues):
    rel = _relevance_for(venues, {"food": ["ramen", "coffee"], "pace": "slow"})
    plan = assemble(venues, rel, 3, 3)
    by_part = {p: [s.venue for s in plan.slots if s.day_part == p] for p in ("morning", "afternoon", "evening")}
    assert all("coffee" in v.tags for v in by_part["morning"])
    assert not any("coffee" in v.tags for v in by_part["evening"])
    assert any(v.name.startswith("Ramen") for v in by_part["evening"] + by_part["afternoon"])
    for d in (1, 2, 3):
        day = [s.venue for s in plan.slots if s.day_number == d]
        assert sum(v.category in EAT_DRINK for v in day) <= eat_drink_cap(3) == 2


def test_arrival_respects_listed_opening_hours(venues):
    rel = _relevance_for(venues, {"food": ["seafood"], "interests": ["nightlife"]})
    plan = assemble(venues, rel, 2, 3)
    for s in plan.slots:
        span = parse_hours(s.venue.hours)
        if span is not None:
            hour, minute = map(int, s.arrive.split(":"))
            assert span[0] <= hour + minute / 60 <= span[1], (s.venue.name, s.venue.hours, s.arrive)
    assert visit_window("5PM-10PM", "evening") == (17.0, 22.0)
    assert visit_window("6pm-2am", "evening") == (18.0, 23.0)
    assert visit_window(None, "morning") == (8.0, 12.0)

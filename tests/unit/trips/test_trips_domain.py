import numpy as np
import pytest

from shared.domains.travel.trips.archetypes import assign_archetype
from shared.domains.travel.trips.dayparts import day_part_fit
from shared.domains.travel.trips.geo import order_stops
from shared.domains.travel.trips.persona import build_persona, template_description, user_tower
from shared.domains.travel.trips.tags import TagError, parse_tags

from tests.unit.trips.trips_synthetic import fake_encode


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


def test_day_part_fit():
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

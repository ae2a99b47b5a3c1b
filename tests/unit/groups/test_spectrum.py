"""The five options from safe to adventurous: every member's constraints hold, claims are faithful, and an
infeasible group is told which constraint emptied the pool."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from shared.domains.errors import InvalidRequest
from shared.domains.groups.spectrum import (
    PRICE_PER_PERSON,
    Claim,
    GroupHistory,
    NotEnoughOptions,
    OutingWindow,
    check_option,
    cost_per_person,
    open_during,
    requirement_evidence,
    spectrum,
)
from tests.unit.groups.venues import BY_ID, SEATTLE, VENUES, members, saturday_evening, venue

WINDOW = saturday_evening()


def food_stops(options):
    return [s for o in options for s in o.stops if s.is_food]


@pytest.mark.parametrize("aggregation", ["least_misery", "nash_welfare", "average"])
def test_five_distinct_options_ordered_by_novelty_and_all_pass_the_gate(aggregation):
    group = members()
    options = spectrum(VENUES, group, WINDOW, aggregation=aggregation)
    assert [o.rank for o in options] == [0, 1, 2, 3, 4]
    assert [o.label for o in options] == ["safe", "familiar", "balanced", "fresh", "adventurous"]
    novelty = [o.novelty for o in options]
    assert novelty == sorted(novelty) and all(0.0 <= n <= 1.0 for n in novelty)
    assert len({frozenset(o.venue_ids) for o in options}) == 5
    for o in options:
        assert 1 <= len(o.stops) <= 3 and o.aggregation == aggregation
        assert set(o.satisfaction) == {m.user_id for m in group}
        assert check_option(o, group, BY_ID, WINDOW) == []


def test_the_window_splits_into_a_dinner_and_a_second_stop():
    options = spectrum(VENUES, members(), WINDOW)
    for o in options:
        first, second = o.stops
        assert (first.role, first.start.strftime("%H:%M"), first.end.strftime("%H:%M")) == ("dinner", "18:00", "19:20")
        assert second.role in ("visit", "night", "treat")
        assert (second.start.strftime("%H:%M"), second.end.strftime("%H:%M")) == ("19:40", "21:00")


RICH = {u: {"budget": 500} for u in ("ana", "cara", "dev")}


def test_a_vegetarian_member_never_gets_a_steakhouse_and_every_food_stop_shows_evidence():
    group = members(**RICH, ben={"diet": {"vegetarian"}, "budget": 500, "preferences": {"upscale": 1.0}})
    options = spectrum(VENUES, group, WINDOW)
    assert "r_steak" not in {s.venue_id for s in food_stops(options)}
    assert "r_dumpling" not in {s.venue_id for s in food_stops(options)}   # no vegetarian evidence either
    for o in options:
        for stop in o.stops:
            if stop.is_food:
                claims = [c for c in o.explanations["ben"] if c.venue_id == stop.venue_id and c.kind == "diet"]
                assert [c.claim for c in claims] == ["serves vegetarian"]
                assert claims[0].evidence in requirement_evidence("vegetarian", BY_ID[stop.venue_id])


def test_a_steakhouse_is_offered_when_nobody_needs_a_diet():
    # the exclusion above is the diet's doing: a group of meat eaters with a big budget can get it
    group = members(**{u: {"budget": 500, "preferences": {"upscale": 1.0}} for u in ("ana", "ben", "cara", "dev")})
    assert "r_steak" in {s.venue_id for s in food_stops(spectrum(VENUES, group, WINDOW))}


def test_a_budget_of_20_excludes_price_level_4_and_every_plan_fits_it():
    group = members(cara={"budget": 20})
    options = spectrum(VENUES, group, WINDOW)
    for o in options:
        assert o.cost_per_person <= 20
        assert all(BY_ID[s.venue_id].price_level != 4 for s in o.stops)
        assert sum(cost_per_person(BY_ID[s.venue_id])[0] for s in o.stops) == o.cost_per_person
        budget = [c for c in o.explanations["cara"] if c.kind == "budget"]
        assert budget and "within your budget of 20" in budget[0].claim


def test_price_mapping_and_unpriced_venues():
    assert PRICE_PER_PERSON == (0.0, 15.0, 30.0, 60.0, 100.0)
    assert cost_per_person(BY_ID["r_sushi"]) == (100.0, "price_level:4")
    assert cost_per_person(BY_ID["p_park"]) == (0.0, "tag:free")
    assert cost_per_person(BY_ID["p_stroll"]) == (0.0, "type:neighbourhood")
    assert cost_per_person(venue("x", "Unpriced bar", "bar", None)) == (30.0, "price_level:unknown")


def test_a_venue_closed_in_the_window_is_never_proposed():
    options = spectrum(VENUES, members(ben={"diet": {"vegetarian"}}), WINDOW)
    proposed = {vid for o in options for vid in o.venue_ids}
    assert "r_deli" not in proposed          # lunch only (listed 11:00-15:00), though vegetarian and cheap
    assert "m_museum" not in proposed        # typical museum hours end at 17:00
    dinner = WINDOW.start, WINDOW.start + dt.timedelta(minutes=80)
    assert not open_during(BY_ID["r_deli"], *dinner, SEATTLE)
    assert open_during(BY_ID["r_deli"], dinner[0] - dt.timedelta(hours=6), dinner[1] - dt.timedelta(hours=6), SEATTLE)


def test_a_short_window_at_noon_is_one_lunch_stop():
    noon = OutingWindow(dt.datetime(2031, 6, 7, 12, 0, tzinfo=SEATTLE), dt.datetime(2031, 6, 7, 13, 30, tzinfo=SEATTLE),
                        SEATTLE)
    group = members(ben={"diet": {"vegetarian"}})
    options = spectrum(VENUES, group, noon)
    assert [[s.role for s in o.stops] for o in options] == [["lunch"]] * 5
    assert all(check_option(o, group, BY_ID, noon) == [] for o in options)


def test_step_free_access_is_required_at_every_stop():
    accessible = [venue(f"a{i}", f"Access {i}", "restaurant" if i < 3 else "bar", 1, ["casual"],
                        "wheelchair accessible, step-free entrance", at=(0.1 * i, 0)) for i in range(6)]
    group = members(dev={"access": {"step_free"}})
    options = spectrum(VENUES + accessible, group, WINDOW)
    for o in options:
        for s in o.stops:
            assert requirement_evidence("step_free", (BY_ID | {v.id: v for v in accessible})[s.venue_id])
            assert any(c.kind == "access" and c.venue_id == s.venue_id for c in o.explanations["dev"])


def test_deterministic_whatever_the_input_order():
    group = members(ben={"diet": {"vegetarian"}})
    first = spectrum(VENUES, group, WINDOW)
    assert spectrum(list(reversed(VENUES)), group, WINDOW) == first
    assert spectrum(VENUES, group, WINDOW) == first


@pytest.mark.parametrize("aggregation", ["least_misery", "nash_welfare", "average"])
def test_with_history_the_spectrum_runs_from_what_the_group_liked_to_what_it_never_did(aggregation):
    history = GroupHistory(venue_ids=frozenset({"b_brewery"}), categories=frozenset({"brewery", "restaurant"}),
                           areas=frozenset({"belltown"}))
    options = spectrum(VENUES, members(), WINDOW, history, aggregation=aggregation)
    novelty = [o.novelty for o in options]
    assert novelty == sorted(novelty) and len(set(novelty)) >= 3
    assert options[0].novelty < 0.6 < options[-1].novelty
    assert options[0].novelty < spectrum(VENUES, members(), WINDOW, aggregation=aggregation)[0].novelty
    safe_kinds = {s.category for s in options[0].stops} | {s.area for s in options[0].stops}
    assert safe_kinds & {"brewery", "belltown"}


@pytest.mark.parametrize("changes, constraint, field", [
    ({"cara": {"diet": {"halal", "gluten_free"}}}, "diet", "members[2].diet"),
    ({"dev": {"budget": 10}}, "budget", "members[3].budget"),
    ({"ana": {"access": {"step_free"}}}, "access", "members[0].access"),
])
def test_too_few_feasible_options_names_the_constraint_and_does_not_pad(changes, constraint, field):
    with pytest.raises(NotEnoughOptions) as err:
        spectrum(VENUES, members(**changes), WINDOW)
    assert err.value.constraint == constraint and err.value.field == field
    assert isinstance(err.value, InvalidRequest) and err.value.code == "not_enough_options"
    assert [name for name, _ in err.value.funnel] == ["venues", "catalogue", "window", "budget", "diet", "access"]


def test_a_window_when_everything_is_closed_names_the_window():
    night = OutingWindow(dt.datetime(2031, 6, 8, 4, 0, tzinfo=SEATTLE), dt.datetime(2031, 6, 8, 5, 0, tzinfo=SEATTLE),
                         SEATTLE)
    with pytest.raises(NotEnoughOptions) as err:
        spectrum(VENUES, members(), night)
    assert (err.value.constraint, err.value.field) == ("window", "window")


def test_invalid_inputs_name_their_field():
    with pytest.raises(InvalidRequest) as err:
        spectrum(VENUES, members(), WINDOW, aggregation="dictator")
    assert err.value.field == "aggregation"
    with pytest.raises(InvalidRequest) as err:
        spectrum(VENUES, members(ana={"diet": {"keto"}}), WINDOW)
    assert err.value.field == "members[0].diet"
    with pytest.raises(InvalidRequest) as err:
        OutingWindow(dt.datetime(2031, 6, 7, 18), dt.datetime(2031, 6, 7, 21), SEATTLE)
    assert err.value.field == "window"


def test_the_gate_catches_unfaithful_claims_and_broken_constraints():
    group = members(ben={"diet": {"vegetarian"}})
    option = spectrum(VENUES, group, WINDOW)[0]
    assert check_option(option, group, BY_ID, WINDOW) == []

    diet = next(c for c in option.explanations["ben"] if c.kind == "diet")
    forged = dataclasses.replace(diet, evidence="tag:halal")
    lying = dataclasses.replace(option, explanations={**option.explanations, "ben": (forged,)})
    problems = check_option(lying, group, BY_ID, WINDOW)
    assert any("not supported" in p for p in problems)

    made_up = Claim("ana", option.stops[0].venue_id, "taste", "sushi", "fits your taste for sushi", "text:sushi")
    boasting = dataclasses.replace(option, explanations={**option.explanations,
                                                         "ana": option.explanations["ana"] + (made_up,)})
    assert any("sushi" in p for p in check_option(boasting, group, BY_ID, WINDOW))

    steak = dataclasses.replace(option.stops[0], venue_id="r_steak", name="Prime Cut Steakhouse")
    swapped = dataclasses.replace(option, stops=(steak,) + option.stops[1:])
    problems = check_option(swapped, group, BY_ID, WINDOW)
    assert any("no evidence it is vegetarian" in p for p in problems)
    assert any("budget" in p or "cost per person" in p for p in problems)

    deli = dataclasses.replace(option.stops[0], venue_id="r_deli", name="Midday Deli")
    closed = dataclasses.replace(option, stops=(deli,) + option.stops[1:])
    assert any("closed" in p for p in check_option(closed, group, BY_ID, WINDOW))

    priced = next(o for o in spectrum(VENUES, group, WINDOW) if o.cost_per_person > 0)
    poorer = members(ben={"diet": {"vegetarian"}}, ana={"budget": priced.cost_per_person - 1})
    assert any("over ana's budget" in p for p in check_option(priced, poorer, BY_ID, WINDOW))


@pytest.mark.parametrize("aggregation", ["least_misery", "nash_welfare", "average"])
def test_the_five_options_are_five_different_outings(aggregation):
    options = spectrum(VENUES, members(), WINDOW, aggregation=aggregation)
    assert len({o.venue_ids for o in options}) == 5
    firsts = [o.venue_ids[0] for o in options]
    assert len(set(firsts)) >= 4, firsts   # the stop a group remembers differs, not just the second one

"""The group release gate passes the planner and fails a deliberately broken one (bench/group_release_gate.py),
on the synthetic Seattle neighbourhood of venues.py: a few golden-style scenarios, all free on a Saturday
evening only."""
from __future__ import annotations

import dataclasses

from bench.group_release_gate import run_gate
from shared.domains.groups.spectrum import spectrum
from tests.unit.groups.venues import BASE, SEATTLE, VENUES

BUSY_BY_DAY = [["08:00", "18:00"]]   # everyone is free from 18:00: the window is the Saturday evening


def _scenario(i: int, diet: bool) -> dict:
    tags = [{"food": ["pizza"], "interests": ["parks"]}, {"food": ["beer"]}, {"food": ["thai"], "vibe": ["cozy"]}]
    return {"id": f"t{i}", "city": "seattle", "day": "2031-06-07", "minutes": 180, "quorum": 3,
            "aggregation": ("least_misery", "nash_welfare", "average")[i % 3], "budget_level": "medium",
            "members": [{"id": f"t{i}m{k}", "role": "owner" if k == 0 else "member", "tags": tags[k],
                         "diet": ["vegetarian"] if diet and k == 1 else [], "access": [], "budget": 80.0,
                         "home_km": [k * 0.5, 0.3], "seats": 2 if k == 0 else 0, "busy": BUSY_BY_DAY}
                        for k in range(3)]}


SCENARIOS = [_scenario(i, diet=i % 2 == 0) for i in range(4)]


def _catalogue(_city):
    return VENUES, BASE, SEATTLE


def test_the_planner_passes_the_gate():
    result = run_gate(SCENARIOS, _catalogue)
    assert result["planned"] == len(SCENARIOS) and result["options"] == 5 * len(SCENARIOS)
    assert result["passed"], result["problem_examples"]
    assert result["checks"]["constraint_satisfaction"]["value"] == 1.0
    assert result["checks"]["explanation_faithfulness"]["value"] == 1.0
    assert set(result["slices"]) == {"group_size", "city", "budget_level", "role"}


def test_a_planner_that_forgets_diets_fails_the_gate():
    def forgets_diets(venues, members, window, history, aggregation):
        return spectrum(venues, [dataclasses.replace(m, diet=frozenset()) for m in members], window, history,
                        aggregation)

    result = run_gate(SCENARIOS, _catalogue, planner=forgets_diets)
    assert not result["passed"]
    assert result["checks"]["constraint_satisfaction"]["value"] < 1.0
    assert any("vegetarian" in p for p in result["problem_examples"])


def test_a_planner_that_embellishes_its_explanations_fails_the_gate():
    def embellishes(venues, members, window, history, aggregation):
        options = spectrum(venues, members, window, history, aggregation)
        first = options[0]
        member = members[0].user_id
        claims = first.explanations[member]
        bogus = dataclasses.replace(claims[-1], kind="taste", subject="pizza", claim="fits your taste for pizza",
                                    evidence="tag:best-pizza-in-town", venue_id=first.stops[0].venue_id)
        return [dataclasses.replace(first, explanations={**first.explanations, member: claims + (bogus,)}),
                *options[1:]]

    result = run_gate(SCENARIOS, _catalogue, planner=embellishes)
    assert not result["passed"]
    assert result["checks"]["explanation_faithfulness"]["value"] < 1.0
    assert result["checks"]["constraint_satisfaction"]["value"] == 1.0

"""Group aggregation: each rule picks what its definition says on small hand-built groups."""
from __future__ import annotations

import numpy as np
import pytest

from shared.engine.group_ranking import (
    Aggregation,
    Average,
    LeastMisery,
    NashWelfare,
    aggregation,
    member_satisfaction,
    to_utilities,
)
from shared.engine.group_ranking_learned import FEATURES, GroupChoiceModel, blend, group_features
from shared.engine.rankers.base import UNKNOWN_SCORE

# items: 0 polarising (one loves, one hates), 1 nobody hates, 2 balanced but dull
POLARISING = np.array([[1.0, 0.6, 0.4],
                       [0.0, 0.55, 0.4]])


def test_least_misery_picks_the_item_nobody_hates_over_a_polarising_one():
    scores = LeastMisery().combine(POLARISING)
    assert int(np.argmax(scores)) == 1
    np.testing.assert_allclose(scores, [0.0, 0.55, 0.4])


def test_average_can_pick_the_polarising_item_that_least_misery_refuses():
    u = np.array([[1.0, 0.5], [0.1, 0.5]])  # mean 0.55 vs 0.5
    assert int(np.argmax(Average().combine(u))) == 0
    assert int(np.argmax(LeastMisery().combine(u))) == 1


def test_nash_prefers_balanced_utility_at_equal_total():
    u = np.array([[0.9, 0.5], [0.1, 0.5]])  # same sum (average ties), product 0.09 vs 0.25
    assert Average().combine(u)[0] == pytest.approx(Average().combine(u)[1])
    nash = NashWelfare().combine(u)
    assert nash[1] > nash[0]
    np.testing.assert_allclose(nash, np.log([0.09, 0.25]))


def test_nash_floors_zero_utility_so_the_others_still_decide():
    u = np.array([[0.0, 0.0, 0.3], [0.9, 0.2, 0.3]])
    nash = NashWelfare(epsilon=1e-3).combine(u)
    assert np.isfinite(nash).all()
    assert nash[0] > nash[1]  # both have a zero; the other member's 0.9 beats 0.2 instead of a -inf tie
    assert nash[2] > nash[0]  # but a real zero still costs more than modest utility for everyone
    with pytest.raises(ValueError):
        NashWelfare(epsilon=0.0)


def test_registry_names_and_unknown_name_lists_the_choices():
    for name, cls in (("least_misery", LeastMisery), ("nash_welfare", NashWelfare), ("average", Average)):
        agg = aggregation(name)
        assert isinstance(agg, cls) and isinstance(agg, Aggregation) and agg.name == name
    with pytest.raises(ValueError) as err:
        aggregation("borda")
    assert "borda" in str(err.value)
    for name in ("average", "least_misery", "nash_welfare"):
        assert name in str(err.value)


def test_single_member_group_is_that_members_ranking():
    u = np.array([[0.2, 0.9, 0.5]])
    for name in ("least_misery", "nash_welfare", "average"):
        assert list(np.argsort(-aggregation(name).combine(u))) == [1, 2, 0]


def test_rank_utilities_are_scale_free_per_member_and_unknown_items_get_zero():
    raw = np.array([[10.0, 30.0, 20.0, UNKNOWN_SCORE],
                     [-0.3, -0.1, -0.2, np.nan]])  # different scales, same order
    u = to_utilities(raw)
    np.testing.assert_allclose(u[0], u[1])
    np.testing.assert_allclose(u[0], [1 / 3, 1.0, 2 / 3, 0.0])
    assert to_utilities(np.array([3.0, 3.0, 1.0])).tolist() == [0.75, 0.75, 0.0]  # ties share their rank, 1-D ok


def test_minmax_utilities_ignore_unknown_items_and_flat_rows():
    u = to_utilities(np.array([[0.0, 5.0, 10.0, UNKNOWN_SCORE], [2.0, 2.0, 2.0, 2.0]]), method="minmax")
    np.testing.assert_allclose(u, [[0.0, 0.5, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    with pytest.raises(ValueError):
        to_utilities(np.ones((1, 2)), method="softmax")


def test_member_satisfaction_reports_each_members_utility_of_the_choice():
    chosen = int(np.argmax(LeastMisery().combine(POLARISING)))
    np.testing.assert_allclose(member_satisfaction(POLARISING, chosen), [0.6, 0.55])
    assert member_satisfaction(POLARISING, np.array([0, 2])).shape == (2, 2)
    with pytest.raises(IndexError):
        member_satisfaction(POLARISING, 3)


def test_blend_and_group_features():
    np.testing.assert_allclose(blend([1.0, 0.0], [0.0, 1.0], 0.25), [0.25, 0.75])
    with pytest.raises(ValueError):
        blend([1.0], [0.0], 1.5)
    util = np.array([[0.9, 0.1], [0.5, 0.3]])
    hist = np.array([[1, 0], [1, 1]])
    f = group_features(util, hist, np.array([3, 0]), np.array([0, 7]))
    assert f.shape == (2, len(FEATURES))
    np.testing.assert_allclose(f[:, 0], [1.0, 0.5])
    np.testing.assert_allclose(f[:, 3:], [[0.5, 0.7, 0.9], [0.1, 0.2, 0.3]], rtol=1e-6)


def test_group_choice_model_learns_that_groups_go_where_everyone_has_been():
    rng = np.random.default_rng(0)
    X = rng.random((400, len(FEATURES))).astype(np.float32)
    y = X[:, 0] + 0.1 * rng.standard_normal(400) > 0.7
    model = GroupChoiceModel().fit(X, y)
    w = model.weights()
    assert max(w, key=lambda k: abs(w[k])) == "history_share" and w["history_share"] > 0
    s = model.score(np.array([[0.9, 0.5, 0.5, 0.5, 0.5, 0.5], [0.1, 0.5, 0.5, 0.5, 0.5, 0.5]]))
    assert s[0] > s[1]

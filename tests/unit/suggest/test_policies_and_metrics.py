"""Action distributions recovered from a log, the cross-fitted reward model, and AUC with its interval."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from shared.engine.suggest.metrics import auc_ci, rank_auc
from shared.engine.suggest.policies import empirical_action_dist, interpolated_action_dist, tile
from shared.engine.suggest.rankers import LogisticRanker
from shared.engine.suggest.reward_model import cross_fit_logged, cross_fit_q_hat
from tests.unit.suggest.synthetic import make_log


def test_empirical_action_dist_is_each_slots_item_shares():
    log = make_log(n=600, seed=3)
    dist = empirical_action_dist(log)
    assert dist.shape == (log.n_actions, log.len_list) and np.allclose(dist.sum(axis=0), 1)
    k = 1
    at_k = log.item[log.position == k]
    assert dist[2, k] == pytest.approx((at_k == 2).mean())
    assert tile(dist, 5).shape == (5, log.n_actions, log.len_list)


def test_interpolated_action_dist_follows_the_logged_propensities_in_time():
    log = make_log(n=200, n_actions=2, len_list=1, seed=4)
    t = np.arange(200, dtype=float)
    pscore = np.where(log.item == 0, 0.2 + 0.6 * t / 199, 0.8 - 0.6 * t / 199)  # item 0 rises, item 1 falls
    log = replace(log, timestamp=t, pscore=pscore)
    dist, mass = interpolated_action_dist(log, np.array([0.0, 99.5, 199.0]))
    assert np.allclose(mass, 1.0, atol=0.01)     # logged propensities sum to one (flat beyond the ends)
    assert dist[:, 0, 0] == pytest.approx([0.2, 0.5, 0.8], abs=0.02)
    assert np.allclose(dist.sum(axis=1), 1.0)


def test_cross_fitted_reward_model_keeps_copies_of_a_round_together():
    log = make_log(n=500, seed=5)
    rows = np.random.default_rng(0).integers(0, 500, 500)
    q = cross_fit_q_hat(log, rows, lambda: LogisticRanker(C=0.1), n_folds=3, seed=0)
    assert q.shape == (500, log.n_actions, log.len_list) and ((q > 0) & (q < 1)).all()
    first = {}
    for j, r in enumerate(rows.tolist()):
        first.setdefault(r, j)
        assert np.array_equal(q[j], q[first[r]])
    logged = cross_fit_logged(log, rows, lambda: LogisticRanker(C=0.1), n_folds=3, seed=0)
    assert np.allclose(logged, q[np.arange(500), log.item[rows], log.position[rows]])


def test_auc_interval_and_the_rank_formula_agree_with_sklearn():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(8), np.zeros(500)]
    s = np.round(rng.normal(size=508) + y, 1)                     # rounded: ties must count a half
    assert rank_auc(s[y == 1], s[y == 0]) == pytest.approx(roc_auc_score(y, s))
    ci = auc_ci(y, s, n_resamples=500)
    assert ci.mean == pytest.approx(roc_auc_score(y, s)) and ci.low < ci.mean < ci.high and ci.n == 8
    perfect = auc_ci(y, y + 0.0, n_resamples=200)
    assert (perfect.low, perfect.mean, perfect.high) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        auc_ci(np.zeros(5), np.arange(5.0))

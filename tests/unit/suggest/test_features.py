"""One feature definition: the training path and the serving path must give the same row for the same
(context, item, position), and the click statistics must never see the row they describe."""
from __future__ import annotations

import json

import numpy as np
import pytest

from shared.engine.suggest.features import (
    FeatureStats,
    all_slot_features,
    feature_names,
    fit_beta_prior,
    ordered_counts,
    serving_features,
    training_features,
)
from tests.unit.suggest.synthetic import make_log


@pytest.fixture(scope="module")
def log():
    return make_log(n=400, seed=1)


@pytest.fixture(scope="module")
def stats(log):
    return FeatureStats.from_log(log, np.arange(300))


def test_training_and_serving_rows_are_identical(log, stats):
    rows = np.arange(300, 400)
    X_train = training_features(log, rows, stats)
    X_serve = np.vstack([serving_features(log.context(i), [log.item[i]], log.position[i], stats) for i in rows])
    assert X_train.shape == (100, len(feature_names(stats)))
    assert np.array_equal(X_train, X_serve)


def test_serving_many_candidates_matches_every_slot_row(log, stats):
    i = 305
    X_all = all_slot_features(log, np.array([i]), stats).reshape(log.n_actions, log.len_list, -1)
    for k in range(log.len_list):
        X_serve = serving_features(log.context(i), list(range(log.n_actions)), k, stats)
        assert np.array_equal(X_serve, X_all[:, k, :])
    names = feature_names(stats)
    assert X_all[:, 0, names.index("affinity")].tolist() == log.affinity[i].tolist()   # per-candidate affinity
    assert X_all[0, :, names.index("position_0")].tolist() == [1.0, 0.0, 0.0]


def test_ordered_training_rows_equal_what_serving_knew_at_that_moment(log, stats):
    rows = np.arange(300)
    X = training_features(log, rows, stats, ordered=True)
    prior = (stats.prior_alpha, stats.prior_beta)
    for j in (0, 1, 57, 299):
        then = stats.recount(log, rows[:j], prior=prior)
        assert np.array_equal(X[j], serving_features(log.context(j), [log.item[j]], log.position[j], then)[0])
    assert not np.array_equal(X, training_features(log, rows, stats))    # the CTR columns did change


def test_ordered_counts_exclude_the_row_itself_and_its_copies(log):
    rows = np.array([0, 1, 2, 2, 3])      # row 2 repeated, as a bootstrap resample would
    counts = ordered_counts(log, rows)
    assert counts.item_impressions[0] == 0 and counts.position_impressions[0] == 0
    assert counts.item_impressions[2] == counts.item_impressions[3]      # copies share one "before"
    for j, r in enumerate(rows):
        earlier = np.unique(rows[rows < r])
        same = earlier[log.item[earlier] == log.item[r]]
        assert counts.item_impressions[j] == len(same)
        assert counts.item_clicks[j] == log.click[same].sum()


def test_unseen_user_level_serves_as_zeros_not_an_error(log, stats):
    ctx = dict(log.context(0), user_feature_0="never-seen")
    x = serving_features(ctx, [0], 0, stats)[0]
    names = feature_names(stats)
    block = [i for i, n in enumerate(names) if n.startswith("user_feature_0=")]
    assert x[block].sum() == 0
    assert serving_features(log.context(0), [0], 0, stats)[0][block].sum() == 1


def test_bad_requests_are_refused(log, stats):
    with pytest.raises(ValueError, match="item ids"):
        serving_features(log.context(0), [log.n_actions], 0, stats)
    with pytest.raises(ValueError, match="positions"):
        serving_features(log.context(0), [0], log.len_list, stats)
    with pytest.raises(ValueError, match="user_item_affinity"):
        serving_features(dict(log.context(0), user_item_affinity=[0.0]), [0], 0, stats)


def test_stats_survive_json(log, stats):
    again = FeatureStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    assert np.array_equal(training_features(log, np.arange(50), stats), training_features(log, np.arange(50), again))


def test_beta_prior_is_weak_when_items_differ_and_strong_when_they_do_not():
    impressions = np.full(40, 500.0)
    rng = np.random.default_rng(0)
    rates = np.where(np.arange(40) % 2 == 0, 0.02, 0.3)
    a, b = fit_beta_prior(rng.binomial(500, rates), impressions)
    differ = a + b
    assert differ < 50                                   # items clearly differ: little shrinkage
    a, b = fit_beta_prior(rng.binomial(500, np.full(40, 0.1)), impressions)
    assert a + b > 500 and a + b > 10 * differ           # indistinguishable: more pseudo-counts than data
    assert a / (a + b) == pytest.approx(0.1, abs=0.01)

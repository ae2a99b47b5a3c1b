"""Rankers: they learn a planted signal, round-trip through their artifacts, and the rule needs no training."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shared.engine.suggest.features import FeatureStats, feature_names, serving_features, training_features
from shared.engine.suggest.rankers import LightGBMRanker, LogisticRanker, RuleRanker, load_ranker
from tests.unit.suggest.synthetic import make_log


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), rng.normal(size=n) * 50 + 10, rng.integers(0, 2, n)])
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2 + 1.5 * X[:, 0] + 0.02 * X[:, 1] + X[:, 2])))).astype(int)
    return X, y


def _through_json(artifact: dict) -> dict:
    return json.loads(json.dumps(artifact, default=lambda v: v.tolist()))


@pytest.fixture(scope="module")
def data():
    return _data(3000, 0), _data(1000, 1)


def test_logistic_numpy_prediction_equals_sklearn_and_survives_its_artifact(data):
    (X, y), (X_te, y_te) = data
    ranker = LogisticRanker(C=0.5).fit(X, y)
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000)).fit(X, y)
    assert np.allclose(ranker.predict_proba(X_te), reference.predict_proba(X_te)[:, 1], rtol=1e-9, atol=1e-12)
    assert roc_auc_score(y_te, ranker.predict_proba(X_te)) > 0.75
    loaded = load_ranker(_through_json(ranker.to_artifact()))
    assert isinstance(loaded, LogisticRanker)
    assert np.array_equal(loaded.predict_proba(X_te), ranker.predict_proba(X_te))


def test_lightgbm_early_stops_and_predicts_identically_from_its_model_string(data):
    (X, y), (X_te, y_te) = data
    ranker = LightGBMRanker(params={"min_data_in_leaf": 20}, num_boost_round=300, early_stopping_rounds=20)
    ranker.fit(X[:2000], y[:2000], valid=(X[2000:], y[2000:]))
    assert 1 <= ranker.best_iteration < 300
    p = ranker.predict_proba(X_te)
    assert ((p > 0) & (p < 1)).all() and roc_auc_score(y_te, p) > 0.75
    artifact = _through_json(ranker.to_artifact())
    assert isinstance(artifact["model"], str)
    assert np.array_equal(load_ranker(artifact).predict_proba(X_te), p)


def test_rule_fallback_serves_from_statistics_alone():
    log = make_log(n=3000, seed=2, click_rate=0.15)
    stats = FeatureStats.from_log(log)
    rule = RuleRanker.from_stats(stats)                                 # no fit, no labels
    ctx = log.context(0)
    scores = rule.predict_proba(serving_features(ctx, list(range(log.n_actions)), 0, stats))
    assert np.allclose(scores, stats.item_ctr * stats.position_ctr[0] / stats.prior_mean)
    even, odd = scores[0::2].mean(), scores[1::2].mean()
    assert even > odd                                                   # the planted popular items rank first
    assert load_ranker(_through_json(rule.to_artifact())).predict_proba(
        training_features(log, np.arange(10), stats)).tolist() == rule.predict_proba(
        training_features(log, np.arange(10), stats)).tolist()
    assert rule.feature_names == feature_names(stats)


def test_an_artifact_loads_only_as_its_own_kind(data):
    (X, y), _ = data
    artifact = LogisticRanker().fit(X, y).to_artifact()
    with pytest.raises(ValueError):
        LightGBMRanker.from_artifact(artifact)
    with pytest.raises(ValueError, match="unknown"):
        load_ranker({"kind": "mystery"})
    with pytest.raises(RuntimeError):
        LogisticRanker().predict_proba(X)

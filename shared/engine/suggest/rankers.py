"""Click rankers behind one interface: fit on feature rows, predict click probabilities, travel as artifacts.

- `LogisticRanker`: L2-regularised logistic regression. scikit-learn fits it (on standardised columns, so one
  penalty suits columns of any scale); the standardisation is folded into the weights afterwards, so serving is a
  dot product and a sigmoid in numpy, with no scikit-learn object to unpickle.
- `LightGBMRanker`: gradient-boosted trees on CPU. Heavily constrained (shallow trees, large leaves, L2, row and
  column subsampling) because a click rate of ~0.4% leaves a few dozen positives to learn from; the number of
  rounds comes from early stopping on a validation set. The artifact is LightGBM's own text model, and even the
  freshly fitted ranker predicts with a Booster rebuilt from that text, so a loaded model predicts bit-identically.
- `RuleRanker`: the fallback when no model is trained. The seed's "recency x popularity by category" has no
  recency signal in these logs (items carry no age), so here it is the smoothed item click rate times the
  position's click-rate lift: p = item_ctr * position_ctr / prior_mean. It reads both from the feature columns
  and learns nothing.

Class imbalance is left alone (no re-weighting): AUC does not depend on it, and calibrated probabilities are what
an off-policy estimator's reward model needs.
"""
from __future__ import annotations

from typing import Protocol, Self

import lightgbm as lgb
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

LGB_PARAMS = {
    "objective": "binary",
    "metric": "binary_logloss",
    "learning_rate": 0.05,
    "num_leaves": 4,
    "max_depth": 2,
    "min_data_in_leaf": 100,
    "lambda_l2": 10.0,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "num_threads": 1,  # a few thousand rows: threads only add OpenMP spin-waits (17 s vs 0.08 s on a busy 2-core box)
    "deterministic": True,
    "force_col_wise": True,
    "verbosity": -1,
    "seed": 0,
}


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function."""
    return np.exp(-np.logaddexp(0.0, -z))


class Ranker(Protocol):
    kind: str

    def fit(self, X: np.ndarray, y: np.ndarray) -> Self: ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...  # P(click), shape [n]

    def to_artifact(self) -> dict: ...

    @classmethod
    def from_artifact(cls, artifact: dict) -> Self: ...


class LogisticRanker:
    kind = "logistic"

    def __init__(self, C: float = 0.1, max_iter: int = 2000) -> None:
        self.C = C
        self.max_iter = max_iter
        self.coef: np.ndarray | None = None
        self.intercept: float = 0.0

    def fit(self, X: np.ndarray, y: np.ndarray) -> Self:
        scaler = StandardScaler().fit(X)
        model = LogisticRegression(C=self.C, max_iter=self.max_iter).fit(scaler.transform(X), y)
        w = model.coef_.ravel() / scaler.scale_
        self.coef = w
        self.intercept = float(model.intercept_[0] - np.dot(w, scaler.mean_))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if self.coef is None:
            raise RuntimeError("LogisticRanker is not fitted")
        return sigmoid(np.asarray(X, dtype=np.float64) @ self.coef + self.intercept)

    def to_artifact(self) -> dict:
        if self.coef is None:
            raise RuntimeError("LogisticRanker is not fitted")
        return {"kind": self.kind, "C": self.C, "coef": self.coef.copy(), "intercept": self.intercept}

    @classmethod
    def from_artifact(cls, artifact: dict) -> Self:
        _check_kind(artifact, cls.kind)
        ranker = cls(C=float(artifact["C"]))
        ranker.coef = np.asarray(artifact["coef"], dtype=np.float64)
        ranker.intercept = float(artifact["intercept"])
        return ranker


class LightGBMRanker:
    kind = "lightgbm"

    def __init__(self, params: dict | None = None, num_boost_round: int = 500,
                 early_stopping_rounds: int = 50) -> None:
        self.params = {**LGB_PARAMS, **(params or {})}
        self.num_boost_round = num_boost_round
        self.early_stopping_rounds = early_stopping_rounds
        self.booster: lgb.Booster | None = None
        self.best_iteration: int = 0

    def fit(self, X: np.ndarray, y: np.ndarray, valid: tuple[np.ndarray, np.ndarray] | None = None) -> Self:
        """With `valid`, boosting stops once its log-loss has not improved for early_stopping_rounds; without it,
        exactly num_boost_round rounds (e.g. a count chosen earlier on validation)."""
        train = lgb.Dataset(X, label=y, free_raw_data=True)
        callbacks, valid_sets = [], []
        if valid is not None:
            valid_sets = [lgb.Dataset(valid[0], label=valid[1], reference=train)]
            callbacks = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
        booster = lgb.train(self.params, train, num_boost_round=self.num_boost_round, valid_sets=valid_sets,
                            callbacks=callbacks)
        self.best_iteration = int(booster.best_iteration or booster.current_iteration())
        self.booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=self.best_iteration))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if self.booster is None:
            raise RuntimeError("LightGBMRanker is not fitted")
        return np.asarray(self.booster.predict(np.asarray(X, dtype=np.float64)), dtype=np.float64)

    def to_artifact(self) -> dict:
        if self.booster is None:
            raise RuntimeError("LightGBMRanker is not fitted")
        return {"kind": self.kind, "model": self.booster.model_to_string(), "best_iteration": self.best_iteration,
                "params": dict(self.params)}

    @classmethod
    def from_artifact(cls, artifact: dict) -> Self:
        _check_kind(artifact, cls.kind)
        ranker = cls(params=artifact.get("params"))
        ranker.booster = lgb.Booster(model_str=artifact["model"])
        ranker.best_iteration = int(artifact.get("best_iteration", ranker.booster.current_iteration()))
        return ranker


class RuleRanker:
    """Smoothed item CTR x position lift, read from the `item_ctr` and `position_ctr` feature columns."""

    kind = "rule"

    def __init__(self, feature_names: list[str], prior_mean: float) -> None:
        if prior_mean <= 0:
            raise ValueError("the prior click rate must be positive")
        self.feature_names = list(feature_names)
        self.prior_mean = float(prior_mean)
        self._item = self.feature_names.index("item_ctr")
        self._position = self.feature_names.index("position_ctr")

    @classmethod
    def from_stats(cls, stats) -> Self:
        """From a FeatureStats alone: no training step."""
        from shared.engine.suggest.features import feature_names

        return cls(feature_names(stats), stats.prior_mean)

    def fit(self, X: np.ndarray, y: np.ndarray) -> Self:
        return self  # nothing to learn: the click statistics are the model

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return np.clip(X[:, self._item] * X[:, self._position] / self.prior_mean, 0.0, 1.0)

    def to_artifact(self) -> dict:
        return {"kind": self.kind, "feature_names": list(self.feature_names), "prior_mean": self.prior_mean}

    @classmethod
    def from_artifact(cls, artifact: dict) -> Self:
        _check_kind(artifact, cls.kind)
        return cls(list(artifact["feature_names"]), float(artifact["prior_mean"]))


RANKERS: dict[str, type] = {c.kind: c for c in (LogisticRanker, LightGBMRanker, RuleRanker)}


def load_ranker(artifact: dict) -> Ranker:
    """Any ranker from its artifact, by the artifact's `kind`."""
    try:
        cls = RANKERS[artifact["kind"]]
    except KeyError:
        raise ValueError(f"unknown ranker artifact kind {artifact.get('kind')!r}") from None
    return cls.from_artifact(artifact)


def _check_kind(artifact: dict, kind: str) -> None:
    if artifact.get("kind") != kind:
        raise ValueError(f"a {artifact.get('kind')!r} artifact cannot load as {kind!r}")

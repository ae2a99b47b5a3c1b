"""Learned group models: what a group's past choices teach beyond a fixed aggregation rule.

Two, both small:
- `blend`: a group model's utilities (e.g. a factor model fitted with the group itself as a row, for groups that
  have a history) mixed with the members' aggregated utilities. One weight, tuned on validation data.
- `GroupChoiceModel`: for groups with no history of their own (formed for one outing), a logistic regression over a
  few per-(group, item) features (`group_features`), trained on other groups' choices. The fixed rules cannot learn
  that a group tends to go where *all* members have been, or that some items are "group items" (popular with groups
  relative to individuals); this can, from data, with six weights anyone can read.

Training needs scikit-learn (a trainer dependency, imported only in `fit`); scoring is one numpy dot product.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FEATURES = (
    "history_share",     # share of members who already interacted with the item
    "log_group_pop",     # log(1 + training groups that chose it)
    "log_user_pop",      # log(1 + users who interacted with it)
    "utility_min",       # least misery of the members' utilities
    "utility_mean",      # average
    "utility_max",       # the keenest member
)


def blend(group_utility: np.ndarray, member_aggregate: np.ndarray, weight: float) -> np.ndarray:
    """weight * group model + (1 - weight) * aggregated members; both on the utility scale [0, 1]. weight 0 is the
    pure aggregation, 1 the pure group model; the benchmark tunes it on validation, never on test."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError("weight must be in [0, 1]")
    return weight * np.asarray(group_utility, dtype=np.float64) + (1.0 - weight) * np.asarray(member_aggregate)


def group_features(
    utilities: np.ndarray,
    history: np.ndarray,
    group_popularity: np.ndarray,
    user_popularity: np.ndarray,
) -> np.ndarray:
    """(n_items, len(FEATURES)) for one group.

    utilities: (n_members, n_items) in [0, 1] (see group_ranking.to_utilities); history: (n_members, n_items), > 0
    where a member already interacted with the item; the popularities are counts per item. A group's own choice must
    not be counted in group_popularity when it is a training example (the caller subtracts it): it would leak the
    label into the feature."""
    u = np.asarray(utilities, dtype=np.float32)
    h = np.asarray(history) > 0
    if u.ndim != 2 or u.shape != h.shape:
        raise ValueError("utilities and history must both be (n_members, n_items)")
    out = np.empty((u.shape[1], len(FEATURES)), dtype=np.float32)
    out[:, 0] = h.mean(axis=0)
    out[:, 1] = np.log1p(np.maximum(group_popularity, 0))
    out[:, 2] = np.log1p(np.maximum(user_popularity, 0))
    out[:, 3] = u.min(axis=0)
    out[:, 4] = u.mean(axis=0)
    out[:, 5] = u.max(axis=0)
    return out


@dataclass
class GroupChoiceModel:
    """Logistic regression of "the group chose this item" on standardised `group_features`.

    Standardising makes the weights comparable (and the fit well conditioned); the score is the logit, which ranks
    the same as the probability. C is sklearn's inverse regularisation strength."""

    C: float = 1.0
    mean_: np.ndarray | None = field(default=None, repr=False)
    scale_: np.ndarray | None = field(default=None, repr=False)
    coef_: np.ndarray | None = field(default=None, repr=False)

    def fit(self, features: np.ndarray, chosen: np.ndarray) -> GroupChoiceModel:
        from sklearn.linear_model import LogisticRegression

        X = np.asarray(features, dtype=np.float64)
        y = np.asarray(chosen).astype(bool)
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError("features must be (n_rows, n_features) with one label per row")
        if y.all() or not y.any():
            raise ValueError("need both chosen and not-chosen rows to learn from")
        self.mean_ = X.mean(axis=0)
        self.scale_ = np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
        model = LogisticRegression(C=self.C, max_iter=1000).fit((X - self.mean_) / self.scale_, y)
        self.coef_ = model.coef_.ravel().copy()
        return self

    def score(self, features: np.ndarray) -> np.ndarray:
        """Ranking scores for (..., n_features) -> (...)."""
        if self.coef_ is None:
            raise RuntimeError("GroupChoiceModel: fit before score")
        return ((np.asarray(features, dtype=np.float32) - self.mean_) / self.scale_) @ self.coef_

    def weights(self) -> dict[str, float]:
        """Standardised weight per feature: what the model learned, readable in a benchmark report."""
        if self.coef_ is None:
            raise RuntimeError("GroupChoiceModel: fit first")
        names = FEATURES if len(self.coef_) == len(FEATURES) else tuple(f"f{i}" for i in range(len(self.coef_)))
        return {n: round(float(w), 4) for n, w in zip(names, self.coef_)}

"""The estimated reward q_hat[round, item, slot] that DM and DR need, by cross-fitting a click ranker.

Cross-fitting (OBP's RegressionModel.fit_predict with n_folds > 1; Chernozhukov et al.'s double ML): the rounds
are split into folds and each fold's q_hat comes from a model that never saw it, so DR's correction term is not
shrunk by a model that memorised its own residuals. Rows repeated by a bootstrap resample stay in one fold, or
their copies would leak across. The model's features are the serving feature definition (features.py), with
ordered (as-of-then) click statistics on its own training rows.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from shared.engine.suggest.bandit_data import BanditLog
from shared.engine.suggest.features import FeatureStats, all_slot_features, training_features
from shared.engine.suggest.rankers import Ranker


def fit_ranker(log: BanditLog, rows: np.ndarray, make_ranker: Callable[[], Ranker]) -> tuple[Ranker, FeatureStats]:
    """A ranker trained on `rows` (statistics of those rows; ordered CTR columns on them), and the statistics its
    predictions must be made with."""
    stats = FeatureStats.from_log(log, rows)
    X = training_features(log, rows, stats, ordered=True)
    return make_ranker().fit(X, log.click[rows]), stats


def predict_all_slots(ranker: Ranker, log: BanditLog, rows: np.ndarray, stats: FeatureStats,
                      chunk_rounds: int = 500) -> np.ndarray:
    """[len(rows), n_actions, len_list] predicted click probabilities, built in chunks to bound memory."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows), stats.n_actions, stats.len_list))
    for start in range(0, len(rows), chunk_rounds):
        part = rows[start:start + chunk_rounds]
        out[start:start + len(part)] = ranker.predict_proba(all_slot_features(log, part, stats)).reshape(
            len(part), stats.n_actions, stats.len_list)
    return out


def cross_fit_q_hat(log: BanditLog, rows: np.ndarray, make_ranker: Callable[[], Ranker], n_folds: int = 3,
                    seed: int = 0) -> np.ndarray:
    """q_hat for every round in `rows` (which may repeat), each from a model fitted on the other folds."""
    if n_folds < 2:
        raise ValueError("cross-fitting needs at least two folds")
    rows = np.asarray(rows, dtype=np.int64)
    unique, inverse = np.unique(rows, return_inverse=True)
    fold_of_unique = np.random.default_rng(seed).permutation(len(unique)) % n_folds
    fold = fold_of_unique[inverse]
    q_unique = np.empty((len(unique), log.n_actions, log.len_list))
    for k in range(n_folds):
        ranker, stats = fit_ranker(log, rows[fold != k], make_ranker)
        held = np.flatnonzero(fold_of_unique == k)
        q_unique[held] = predict_all_slots(ranker, log, unique[held], stats)
    return q_unique[inverse]


def cross_fit_logged(log: BanditLog, rows: np.ndarray, make_ranker: Callable[[], Ranker], n_folds: int = 3,
                     seed: int = 0) -> np.ndarray:
    """Cross-fitted click probabilities at the logged (item, slot) only: what choosing the reward model's
    regularisation by out-of-fold log-loss needs, without the n_actions x len_list predictions per round."""
    rows = np.asarray(rows, dtype=np.int64)
    unique, inverse = np.unique(rows, return_inverse=True)
    fold_of_unique = np.random.default_rng(seed).permutation(len(unique)) % n_folds
    fold = fold_of_unique[inverse]
    out = np.empty(len(rows))
    for k in range(n_folds):
        ranker, stats = fit_ranker(log, rows[fold != k], make_ranker)
        out[fold == k] = ranker.predict_proba(training_features(log, rows[fold == k], stats))
    return out

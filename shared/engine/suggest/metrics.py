"""Click-prediction quality: ROC AUC with a stratified percentile-bootstrap interval.

Stratified (positives and negatives resampled separately, their counts kept) because a test split of a 0.4%
click log holds only a handful of clicks: an ordinary resample would now and then draw none, leaving AUC
undefined, and would mix the uncertainty of how many clicks there are into a metric that is conditional on them.
Inside the bootstrap AUC is computed as the Mann-Whitney statistic from mid-ranks (the same number
roc_auc_score gives, ties counting a half), vectorised over resamples: ~100x faster than calling sklearn 2,000
times.
"""
from __future__ import annotations

import numpy as np
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from shared.engine.metrics.stats import DEFAULT_CONFIDENCE, MetricCI

AUC_RESAMPLES = 2000


def rank_auc(pos: np.ndarray, neg: np.ndarray, axis: int = -1) -> np.ndarray:
    """P(score of a click > score of a non-click) + half the ties, along `axis` (batched over the others)."""
    pos, neg = np.moveaxis(pos, axis, -1), np.moveaxis(neg, axis, -1)
    n1, n0 = pos.shape[-1], neg.shape[-1]
    ranks = sps.rankdata(np.concatenate([pos, neg], axis=-1), axis=-1)
    return (ranks[..., :n1].sum(axis=-1) - n1 * (n1 + 1) / 2) / (n1 * n0)


def auc_ci(y: np.ndarray, scores: np.ndarray, name: str = "auc", confidence: float = DEFAULT_CONFIDENCE,
           n_resamples: int = AUC_RESAMPLES, seed: int = 0) -> MetricCI:
    """sklearn's roc_auc_score and its interval; n in the result is the number of positives."""
    y = np.asarray(y).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    if y.all() or not y.any():
        raise ValueError(f"{name}: AUC needs both clicks and non-clicks")
    value = float(roc_auc_score(y, scores))
    pos, neg = scores[y], scores[~y]

    res = sps.bootstrap((pos, neg), rank_auc, paired=False, vectorized=True, confidence_level=confidence,
                        n_resamples=n_resamples, method="percentile", rng=np.random.default_rng(seed))
    ci = res.confidence_interval
    return MetricCI(name, value, float(ci.low), float(ci.high), int(y.sum()), confidence)

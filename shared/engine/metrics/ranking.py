"""Per-user top-k ranking metrics, vectorised over users.

Definitions follow Microsoft Recommenders' `recommenders.evaluation.python_evaluation` (binary relevance: an item is
relevant iff it is among the user's held-out items), so our figures compare with their published benchmarks:

- precision@k = hits / k                   (k even when fewer than k items were recommended, as theirs and Spark's)
- recall@k    = hits / |R|
- ndcg@k      = sum_{hit at rank j} 1/log(1+j) / sum_{j=1..min(|R|,k)} 1/log(1+j)
                (their default natural log; the base cancels in the ratio, so log2 gives the same number)
- map@k       = sum_{hit at rank j} (hits up to j / j) / min(|R|, k)
                = their current `map_at_k` (aligned with Spark's RankingMetrics)
- map_allrel@k = the same numerator / |R|: their `map` (and what their older `map_at_k` computed). The MAP column
                of their published MovieLens 100k table (BPR 0.132478 with NDCG 0.441997) is on this scale, so we
                report both to stay comparable.
- hr@k        = 1 if any hit in the top k (hit rate)
- mrr@k       = 1 / rank of the first hit within the top k, 0 if none

Users with no relevant items are not evaluated (every metric is undefined for them); callers drop them first.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RANKING_METRICS = ("hr", "ndcg", "mrr", "precision", "recall", "map", "map_allrel")


def hit_matrix(ranked: np.ndarray, relevant: Sequence[np.ndarray]) -> np.ndarray:
    """Boolean (n_users, k): ranked[u, j] is in relevant[u]. ranked holds item codes, -1 for empty slots."""
    n_users, k = ranked.shape
    if len(relevant) != n_users:
        raise ValueError("one relevant-item array per ranked row")
    lengths = np.fromiter((len(r) for r in relevant), dtype=np.int64, count=n_users)
    if n_users == 0:
        return np.zeros((0, k), dtype=bool)
    rel_items = np.concatenate([np.asarray(r, dtype=np.int64) for r in relevant]) if lengths.sum() else np.empty(0)
    rel_users = np.repeat(np.arange(n_users, dtype=np.int64), lengths)
    width = int(max(ranked.max(initial=0), rel_items.max(initial=0))) + 2
    rel_keys = np.unique(rel_users * width + rel_items)
    keys = np.arange(n_users, dtype=np.int64)[:, None] * width + ranked
    return np.isin(keys, rel_keys) & (ranked >= 0)


def metrics_from_hits(hits: np.ndarray, n_relevant: np.ndarray, k: int | None = None) -> dict[str, np.ndarray]:
    """Per-user vectors of every RANKING_METRICS entry at cut-off k (default: the hit matrix width)."""
    k = hits.shape[1] if k is None else k
    if k < 1:
        raise ValueError("k must be >= 1")
    hits = hits[:, :k].astype(np.float64)
    if hits.shape[1] < k:  # fewer slots than k: the missing ones are misses
        hits = np.pad(hits, ((0, 0), (0, k - hits.shape[1])))
    n_rel = np.asarray(n_relevant, dtype=np.float64)
    if (n_rel <= 0).any():
        raise ValueError("every evaluated user needs at least one relevant item")
    ranks = np.arange(1, k + 1, dtype=np.float64)
    discounts = 1.0 / np.log2(ranks + 1.0)
    ideal = np.cumsum(discounts)[np.minimum(n_rel, k).astype(np.int64) - 1]
    n_hits = hits.sum(axis=1)
    cum_hits = np.cumsum(hits, axis=1)
    ap_numerator = (hits * cum_hits / ranks).sum(axis=1)
    first = np.argmax(hits > 0, axis=1)
    any_hit = n_hits > 0
    return {
        "hr": any_hit.astype(np.float64),
        "ndcg": (hits @ discounts) / ideal,
        "mrr": np.where(any_hit, 1.0 / (first + 1.0), 0.0),
        "precision": n_hits / k,
        "recall": n_hits / n_rel,
        "map": ap_numerator / np.minimum(n_rel, k),
        "map_allrel": ap_numerator / n_rel,
    }


def novelty(ranked: np.ndarray, item_user_counts: np.ndarray, n_train_users: int) -> np.ndarray:
    """Per-user mean self-information -log2(p(i)) of the recommended items, p(i) = share of training users who
    interacted with i (Zhou et al. 2010; Vargas & Castells 2011). Items never seen in training count as seen once."""
    if n_train_users <= 0:
        raise ValueError("n_train_users must be positive")
    valid = ranked >= 0
    counts = np.where(valid, item_user_counts[np.where(valid, ranked, 0)], 1)
    info = -np.log2(np.maximum(counts, 1) / n_train_users)
    per_user = np.where(valid, info, 0.0).sum(axis=1)
    n = valid.sum(axis=1)
    return np.where(n > 0, per_user / np.maximum(n, 1), 0.0)


def coverage(ranked: np.ndarray, catalogue_size: int) -> float:
    """Share of the catalogue that appears in at least one top-k list."""
    if catalogue_size <= 0:
        raise ValueError("catalogue_size must be positive")
    shown = np.unique(ranked[ranked >= 0])
    return float(len(shown) / catalogue_size)

"""Evaluate a ranker: over the full catalogue (offline datasets) or over candidate sets (logged or sampled).

Both produce an `Evaluation`: per-user metric vectors (aligned on the same users, so two evaluations of one
evaluation set compare pairwise), their bootstrap CIs, and an `eval_set` fingerprint that identifies the evaluation
data exactly. The promotion gate only compares evaluations with equal fingerprints.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from shared.engine.data.candidates import CandidateSets
from shared.engine.data.dataset import InteractionDataset
from shared.engine.data.splits import Split
from shared.engine.metrics.ranking import RANKING_METRICS, coverage, hit_matrix, metrics_from_hits, novelty
from shared.engine.metrics.stats import DEFAULT_RESAMPLES, MetricCI, PairedComparison, bootstrap_ci, paired_comparison
from shared.engine.rankers.base import Ranker
from shared.engine.rankers.matrix import MatrixRanker


@dataclass
class Evaluation:
    model: str  # served_by of the ranker: name@version
    protocol: str  # "full_ranking" or "candidates"
    eval_set: str  # fingerprint of the evaluation data and protocol
    users: np.ndarray  # user ids, aligned with every per-user vector
    per_user: dict[str, np.ndarray]
    metrics: dict[str, MetricCI]
    extra: dict[str, Any] = field(default_factory=dict)  # coverage, sizes, timings

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "protocol": self.protocol,
            "eval_set": self.eval_set,
            "n_users": int(len(self.users)),
            "metrics": {name: ci.to_dict() for name, ci in self.metrics.items()},
            **self.extra,
        }

    def compare(self, other: Evaluation, metric: str, seed: int = 0) -> PairedComparison:
        """self minus other, paired over users; both must come from the same evaluation set."""
        if self.eval_set != other.eval_set:
            raise ValueError(f"cannot pair evaluations of different sets ({self.eval_set} vs {other.eval_set})")
        if not np.array_equal(self.users, other.users):
            raise ValueError("evaluations cover different users")
        return paired_comparison(self.per_user[metric], other.per_user[metric], metric, seed=seed)


def _fingerprint(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _with_cis(per_user: dict[str, np.ndarray], n_resamples: int, seed: int) -> dict[str, MetricCI]:
    return {name: bootstrap_ci(v, name, n_resamples=n_resamples, seed=seed) for name, v in per_user.items()}


def _per_k(hits: np.ndarray, n_rel: np.ndarray, ks: tuple[int, ...], metrics: tuple[str, ...]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for k in ks:
        values = metrics_from_hits(hits, n_rel, k)
        for m in metrics:
            out[f"{m}@{k}"] = values[m]
    return out


def _top_k_dataset_codes(
    ranker: Ranker, user_ids: np.ndarray, k: int, train: InteractionDataset, exclude_seen: bool
) -> np.ndarray:
    """Top-k for each user as item codes of the split's vocabulary, excluding the user's training items."""
    train_pos = train.csr(binary=True, positives_only=False)
    if isinstance(ranker, MatrixRanker):
        r_users = np.fromiter((ranker.user_code(u) for u in user_ids), dtype=np.int64, count=len(user_ids))
        # training items of these users, mapped into the ranker's item space (items it never saw drop out)
        d2r = ranker.item_codes(train.item_ids)
        rows = train_pos[np.fromiter((train.user_index[u] for u in user_ids), dtype=np.int64, count=len(user_ids))]
        cols = d2r[rows.indices]
        keep = cols >= 0
        row_idx = np.repeat(np.arange(len(user_ids)), np.diff(rows.indptr))
        exclude = sp.csr_matrix(
            (np.ones(int(keep.sum()), dtype=np.float32), (row_idx[keep], cols[keep])),
            shape=(len(user_ids), len(ranker.item_ids)),
        )
        top = ranker.top_k_codes(r_users, k, exclude_seen=exclude_seen, exclude=exclude)
        r2d = np.fromiter((train.item_index.get(str(x), -1) for x in ranker.item_ids), np.int64, len(ranker.item_ids))
        return np.where(top >= 0, r2d[np.maximum(top, 0)], -1)
    # any other ranker: ask it to order the training catalogue for each user (slow; fine for small catalogues)
    catalogue = train.item_ids[np.unique(train.items)]
    out = np.full((len(user_ids), k), -1, dtype=np.int64)
    for n, user in enumerate(user_ids):
        seen = train_pos.indices[train_pos.indptr[train.user_index[user]] : train_pos.indptr[train.user_index[user] + 1]]
        seen_ids = set(train.item_ids[seen])
        cands = [c for c in catalogue if c not in seen_ids]
        recs = ranker.recommend(user, k, exclude_seen=exclude_seen, candidates=cands)
        codes = [train.item_index[r.item_id] for r in recs]
        out[n, : len(codes)] = codes
    return out


def evaluate_full_ranking(
    ranker: Ranker,
    split: Split,
    ks: tuple[int, ...] = (10,),
    metrics: tuple[str, ...] = RANKING_METRICS,
    exclude_seen: bool = True,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Evaluation:
    """Rank every catalogue item for every test user (minus their training items), score the top max(ks).

    The evaluated users are those with at least one positive test interaction; a test user the ranker never saw
    gets its fallback ranking (that is what production would serve them), and counts.
    """
    train, test = split.train, split.test
    if not np.array_equal(train.user_ids, test.user_ids) or not np.array_equal(train.item_ids, test.item_ids):
        raise ValueError("train and test must share vocabularies (take both from one Split)")
    start = time.perf_counter()
    relevant_by_user = test.items_by_user(positives_only=True)
    user_codes = np.array(sorted(relevant_by_user), dtype=np.int64)
    if len(user_codes) == 0:
        raise ValueError(f"{test.name} has no positive test interactions to evaluate on")
    user_ids = test.user_ids[user_codes].astype(str)
    relevant = [relevant_by_user[int(u)] for u in user_codes]
    k_max = max(ks)
    ranked = _top_k_dataset_codes(ranker, user_ids, k_max, train, exclude_seen)
    hits = hit_matrix(ranked, relevant)
    n_rel = np.array([len(r) for r in relevant])
    per_user = _per_k(hits, n_rel, ks, metrics)
    item_users = np.asarray(train.csr(binary=True).sum(axis=0)).ravel()
    n_train_users = int(np.unique(train.users).size)
    catalogue = int((item_users > 0).sum())
    extra: dict[str, Any] = {}
    for k in ks:
        per_user[f"novelty@{k}"] = novelty(ranked[:, :k], item_users, n_train_users)
        extra[f"coverage@{k}"] = round(coverage(ranked[:, :k], catalogue), 6)
    eval_set = _fingerprint(
        {"protocol": "full_ranking", "train": train.fingerprint, "test": test.fingerprint, "split": split.description,
         "ks": list(ks), "exclude_seen": exclude_seen}
    )
    cis = _with_cis(per_user, n_resamples, seed)
    extra.update(
        {
            "catalogue_items": catalogue,
            "evaluate_seconds": round(time.perf_counter() - start, 3),
            "split": split.description,
        }
    )
    return Evaluation(ranker.served_by, "full_ranking", eval_set, user_ids, per_user, cis, extra)


def evaluate_candidate_sets(
    ranker: Ranker,
    sets: CandidateSets,
    ks: tuple[int, ...] = (5, 10),
    metrics: tuple[str, ...] = RANKING_METRICS,
    popularity_from: InteractionDataset | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Evaluation:
    """Order each candidate set with the ranker; the set's positives are the relevant items.

    Sets without a positive among their candidates carry no ranking signal and are skipped (counted in extra).
    Score ties break by a seeded shuffle, never by the logged order (which is the logging model's ranking and would
    hand any tied ranker its predecessor's quality). Per-set values are averaged per user before the bootstrap.
    """
    start = time.perf_counter()
    usable = sets.with_positives()
    if len(usable) == 0:
        raise ValueError(f"{sets.name}: no candidate set has a positive item among its candidates")
    rng = np.random.default_rng(seed)
    k_max = max(ks)
    ranked_rows, relevant_rows, set_users, shown = [], [], [], set()
    all_candidates: set[str] = set()
    for cs in usable.sets:
        cands = list(dict.fromkeys(cs.candidates))
        all_candidates.update(cands)
        scores = np.asarray(ranker.score(cs.user_id, cands, {"trip_id": cs.context.get("trip_id"), **cs.context}))
        if scores.shape != (len(cands),):
            raise ValueError(f"{ranker.served_by} returned {scores.shape} scores for {len(cands)} candidates")
        tie = rng.permutation(len(cands))
        order = np.lexsort((tie, -scores))[:k_max]
        row = np.full(k_max, -1, dtype=np.int64)
        row[: len(order)] = order
        ranked_rows.append(row)
        relevant_rows.append(np.array([i for i, c in enumerate(cands) if c in cs.positives], dtype=np.int64))
        set_users.append(cs.user_id)
        shown.update(cands[i] for i in order)
    ranked = np.vstack(ranked_rows)
    hits = hit_matrix(ranked, relevant_rows)
    per_set = _per_k(hits, np.array([len(r) for r in relevant_rows]), ks, metrics)

    # average per user: users are the independent unit for the bootstrap
    groups: dict[str, list[int]] = defaultdict(list)
    for idx, user in enumerate(set_users):
        groups[user].append(idx)
    users = np.array(sorted(groups), dtype=str)
    index_lists = [groups[u] for u in users]
    per_user = {name: np.array([v[ix].mean() for ix in index_lists]) for name, v in per_set.items()}

    extra: dict[str, Any] = {
        "sets_total": len(sets),
        "sets_evaluated": len(usable),
        "sets_without_positive": len(sets) - len(usable),
        "candidate_source": sets.params.get("source", "sampled"),
        "coverage": round(len(shown) / max(len(all_candidates), 1), 6),
    }
    if popularity_from is not None:
        counts = np.asarray(popularity_from.csr(binary=True).sum(axis=0)).ravel()
        n_train_users = max(int(np.unique(popularity_from.users).size), 1)
        for k in ks:
            vals = []
            for cs, row in zip(usable.sets, ranked_rows):
                cands = list(dict.fromkeys(cs.candidates))
                items = [cands[i] for i in row[:k] if i >= 0]
                c = np.array([counts[popularity_from.item_index[x]] if x in popularity_from.item_index else 1 for x in items])
                vals.append(float(np.mean(-np.log2(np.maximum(c, 1) / n_train_users))) if len(c) else 0.0)
            v = np.array(vals)
            per_user[f"novelty@{k}"] = np.array([v[ix].mean() for ix in index_lists])
    eval_set = _fingerprint(
        {
            "protocol": "candidates",
            "name": sets.name,
            "params": sets.params,
            "ks": list(ks),
            "sets": [(s.key, s.user_id, s.candidates, sorted(s.positives)) for s in usable.sets],
        }
    )
    extra["evaluate_seconds"] = round(time.perf_counter() - start, 3)
    cis = _with_cis(per_user, n_resamples, seed)
    return Evaluation(ranker.served_by, "candidates", eval_set, users, per_user, cis, extra)

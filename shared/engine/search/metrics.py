"""Per-query retrieval metrics as BEIR reports them (pytrec_eval's ndcg_cut and recall), with bootstrap CIs.

Why not shared.engine.metrics.ranking: that module is binary-relevance and item-coded for recommenders; BEIR
qrels are graded, keyed by string ids, and its nDCG uses trec_eval's linear gain (gain = relevance grade, not
2^grade - 1) with a log2(rank + 1) discount, the ideal ranking built from all positively judged documents.
SciFact's grades are all 1, so the two would agree there, but other BEIR sets (TREC-COVID, NFCorpus) are graded.

Conventions (BEIR's EvaluateRetrieval): only queries with at least one positive judgment are evaluated; a
retrieved document whose id equals the query id is dropped (`ignore_identical_ids`, BEIR's default, for sets
where queries are also documents); a query the run has no ranking for scores 0 (stricter than BEIR, which would
silently average over the answered queries only). The per-query vectors come in sorted query-id order so two runs
over the same qrels can be compared pairwise.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from shared.engine.metrics.stats import MetricCI, bootstrap_ci

Run = Mapping[str, Sequence[str]]  # query id -> ranked doc ids, best first
DEFAULT_CUTOFFS = {"ndcg@10": ("ndcg", 10), "recall@10": ("recall", 10), "recall@100": ("recall", 100)}


def ndcg_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """trec_eval ndcg_cut_k of one query: sum(grade / log2(rank + 1)) over the top k, over the ideal's."""
    gains = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    if not gains:
        raise ValueError("nDCG is undefined for a query without a positive judgment")
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    dcg = sum(max(judged.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    return dcg / ideal


def recall_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    relevant = {d for d, g in judged.items() if g > 0}
    if not relevant:
        raise ValueError("recall is undefined for a query without a positive judgment")
    return len(relevant.intersection(ranked[:k])) / len(relevant)


METRIC_FUNCTIONS = {"ndcg": ndcg_at_k, "recall": recall_at_k}


def evaluated_queries(qrels: Mapping[str, Mapping[str, int]]) -> list[str]:
    """The query ids that get a value, in the order every per-query vector uses."""
    return sorted(q for q, judged in qrels.items() if any(g > 0 for g in judged.values()))


def per_query(
    run: Run,
    qrels: Mapping[str, Mapping[str, int]],
    cutoffs: Mapping[str, tuple[str, int]] = DEFAULT_CUTOFFS,
    ignore_identical_ids: bool = True,
) -> dict[str, np.ndarray]:
    """{metric name: per-query values in evaluated_queries(qrels) order}."""
    qids = evaluated_queries(qrels)
    out = {name: np.zeros(len(qids)) for name in cutoffs}
    for i, qid in enumerate(qids):
        ranked = list(run.get(qid, ()))
        if ignore_identical_ids:
            ranked = [d for d in ranked if d != qid]
        for name, (kind, k) in cutoffs.items():
            out[name][i] = METRIC_FUNCTIONS[kind](ranked, qrels[qid], k)
    return out


def summarise(values: Mapping[str, np.ndarray], seed: int = 0) -> dict[str, MetricCI]:
    """95% percentile-bootstrap CI of each metric's mean over queries (queries are the independent unit)."""
    return {name: bootstrap_ci(v, name, seed=seed) for name, v in values.items()}


def run_from_indices(qids: Sequence[str], indices: np.ndarray, doc_ids: Sequence[str]) -> dict[str, list[str]]:
    """A Run from a (n_queries, k) matrix of corpus row numbers (-1 = empty slot, as faiss returns)."""
    return {q: [doc_ids[j] for j in row if j >= 0] for q, row in zip(qids, np.asarray(indices))}

"""Reciprocal-rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): score(d) = sum_r w_r / (k + rank_r(d)).

Why RRF: BM25 scores and cosine similarities live on unrelated scales, and RRF needs only ranks, so it needs no
score normalisation and no tuning beyond k (60, the paper's value). A document missing from one ranking gets
nothing from it. Ties (equal fused scores) break by the best rank the document reached, then by document id, so
the output is a pure function of the inputs.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]],
    k: int = RRF_K,
    weights: Sequence[float] | None = None,
    depth: int | None = None,
) -> list[tuple[str, float]]:
    """Fuse ranked lists of doc ids (best first) into one [(doc id, fused score)], best first.
    `depth` caps how much of each input is read (ranks start at 1)."""
    if k < 0:
        raise ValueError("k must be non-negative")
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[str, float] = {}
    best_rank: dict[str, int] = {}
    for ranking, weight in zip(rankings, weights):
        seen: set[str] = set()
        for rank, doc in enumerate(ranking[:depth] if depth else ranking, start=1):
            if doc in seen:  # a list that repeats a document counts it once, at its best rank
                continue
            seen.add(doc)
            scores[doc] = scores.get(doc, 0.0) + weight / (k + rank)
            best_rank[doc] = min(best_rank.get(doc, rank), rank)
    return sorted(scores.items(), key=lambda item: (-item[1], best_rank[item[0]], item[0]))


def fuse_runs(runs: Sequence[Mapping[str, Sequence[str]]], k: int = RRF_K, depth: int | None = 100,
              top: int = 100) -> dict[str, list[str]]:
    """RRF per query over several runs (query id -> ranked doc ids); queries missing from a run fuse the rest."""
    qids = sorted(set().union(*runs)) if runs else []
    return {q: [d for d, _ in reciprocal_rank_fusion([r.get(q, []) for r in runs], k, depth=depth)[:top]]
            for q in qids}

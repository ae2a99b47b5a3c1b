"""Maximal marginal relevance: trade relevance for novelty against what is already chosen.

Similarity is the cosine of item vectors when both have one, else Jaccard of tags, so the same code
diversifies catalogues with and without embeddings.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from shared.engine.serving.types import Candidate


def similarity(a: Candidate, b: Candidate) -> float:
    if a.vector is not None and b.vector is not None:
        na, nb = float(np.linalg.norm(a.vector)), float(np.linalg.norm(b.vector))
        if na > 0 and nb > 0:
            return float(np.dot(a.vector, b.vector) / (na * nb))
    ta, tb = set(a.tags), set(b.tags)
    if not ta or not tb:
        return 1.0 if a.category and a.category == b.category else 0.0
    return len(ta & tb) / len(ta | tb)


def mmr_penalty(item: Candidate, chosen: Sequence[Candidate]) -> float:
    """The redundancy term of MMR: max similarity to anything already chosen (0 when nothing is)."""
    if not chosen:
        return 0.0
    return max(similarity(item, c) for c in chosen)


def _unit_matrix(items: Sequence[Candidate]) -> np.ndarray | None:
    if not items or any(c.vector is None for c in items):
        return None
    m = np.stack([np.asarray(c.vector, dtype=np.float32) for c in items])
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(n == 0, 1.0, n)


def _unit_scaled(scores: dict[str, float]) -> dict[str, float]:
    low, high = min(scores.values()), max(scores.values())
    if high - low < 1e-12:
        return {key: 1.0 for key in scores}
    return {key: (value - low) / (high - low) for key, value in scores.items()}


def mmr_select(
    candidates: Sequence[Candidate],
    relevance: dict[str, float],
    k: int,
    *,
    lambda_: float = 0.7,
    already: Sequence[Candidate] = (),
    allowed: Callable[[Candidate], bool] | None = None,
) -> list[Candidate]:
    """Greedy MMR: pick k items maximising lambda*rel - (1-lambda)*max_sim(chosen ∪ already).

    Relevance is min-max scaled to [0, 1] over the pool first: MMR trades relevance against a similarity in
    [0, 1], and a ranker's raw scores (keyword boosts push them past 1) would otherwise drown the diversity
    term. Vectorised when every item has a vector (one matrix product per pick); otherwise pairwise."""
    pool = [c for c in candidates if allowed is None or allowed(c)]
    if not pool or k <= 0:
        return []
    relevance = _unit_scaled({c.id: relevance.get(c.id, 0.0) for c in pool})
    mat = _unit_matrix(pool)
    ctx_mat = _unit_matrix(list(already)) if already else None
    if mat is not None and (not already or ctx_mat is not None):
        rel = np.array([relevance.get(c.id, 0.0) for c in pool], dtype=np.float64)
        max_sim = (mat @ ctx_mat.T).max(axis=1).astype(np.float64) if ctx_mat is not None else np.zeros(len(pool))
        taken = np.zeros(len(pool), dtype=bool)
        chosen: list[Candidate] = []
        for _ in range(min(k, len(pool))):
            value = lambda_ * rel - (1 - lambda_) * max_sim
            value[taken] = -np.inf
            i = int(np.argmax(value))
            taken[i] = True
            chosen.append(pool[i])
            max_sim = np.maximum(max_sim, mat @ mat[i])
        return chosen
    chosen = []
    context = list(already)
    while pool and len(chosen) < k:
        best_i, best_v = 0, -np.inf
        for i, c in enumerate(pool):
            v = lambda_ * relevance.get(c.id, 0.0) - (1 - lambda_) * mmr_penalty(c, context)
            if v > best_v:
                best_i, best_v = i, v
        pick = pool.pop(best_i)
        chosen.append(pick)
        context.append(pick)
    return chosen

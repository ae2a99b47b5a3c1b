"""The ranker that always answers: a transparent weighted score over features retrieval already carries.

It is the fallback for every other ranker (no key, LLM error/timeout/invalid output, no production ML
model), so it must be deterministic, allocation-light and never raise on odd input.
"""
from __future__ import annotations

import numpy as np

from shared.engine.serving.types import Candidate, RankedItem, RankingContext

WEIGHTS = {"similarity": 0.45, "tags": 0.35, "quality": 0.15, "overrated": 0.15, "novelty": 0.05}


def _minmax(values: np.ndarray) -> np.ndarray:
    if values.size == 0:
        return values
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-9:
        return np.full_like(values, 0.5)
    return (values - lo) / (hi - lo)


class HeuristicRanker:
    name = "heuristic"
    version = "heuristic-v1"

    def rank(self, ctx: RankingContext, candidates: list[Candidate]) -> list[RankedItem]:
        if not candidates:
            return []
        n = len(candidates)
        sim = np.array([c.retrieval_score for c in candidates], dtype=np.float64)
        if ctx.user_vector is not None and all(c.vector is not None for c in candidates):
            mat = np.stack([c.vector for c in candidates]).astype(np.float64)
            u = np.asarray(ctx.user_vector, dtype=np.float64)
            norms = np.linalg.norm(mat, axis=1) * (np.linalg.norm(u) or 1.0)
            sim = (mat @ u) / np.where(norms == 0, 1.0, norms)
        sim = _minmax(sim)
        wanted = set(ctx.tags)
        tag_match = np.zeros(n)
        if wanted:
            for i, c in enumerate(candidates):
                hits = len(wanted.intersection(c.tags))
                # saturating: one matching tag is a strong signal, three say no more than that
                tag_match[i] = 0.0 if hits == 0 else min(1.0, 0.6 + 0.2 * (hits - 1))
        quality = np.array([min(1.0, max(0.0, c.quality)) for c in candidates])
        overrated = np.array([1.0 if c.overrated else 0.0 for c in candidates])
        # later trip days lean away from the obvious: lower-quality-rank venues get a small lift
        day = ctx.day_of_trip or 1
        novelty = (1.0 - quality) * min(1.0, (day - 1) / 4.0)
        score = (
            WEIGHTS["similarity"] * sim
            + WEIGHTS["tags"] * tag_match
            + WEIGHTS["quality"] * quality
            - WEIGHTS["overrated"] * overrated
            + WEIGHTS["novelty"] * novelty
        )
        order = np.lexsort((np.arange(n), -score))  # stable: ties keep retrieval order
        top = float(score[order[0]]) or 1.0
        return [
            RankedItem(candidates[i].id, round(float(score[i]), 6), round(float(max(0.0, min(1.0, score[i] / top))), 4))
            for i in order
        ]

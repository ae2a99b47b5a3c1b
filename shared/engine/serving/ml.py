"""Adapter: an offline `shared.engine.rankers.base.Ranker` (fitted ALS/BPR/EASE/...) behind the online
interface. Items the model has never seen score UNKNOWN_SCORE; if it knows none of the candidates the
output is useless for this request, which is an error the router turns into a heuristic fallback."""
from __future__ import annotations

import numpy as np

from shared.engine.serving.types import Candidate, RankedItem, RankerError, RankingContext

UNKNOWN_FLOOR = -1e29


class MLRanker:
    name = "ml"

    def __init__(self, model):
        self.model = model
        self.version = f"ml:{model.served_by}"

    def rank(self, ctx: RankingContext, candidates: list[Candidate]) -> list[RankedItem]:
        ids = [c.id for c in candidates]
        context = {"day_part": ctx.day_part, "day_of_trip": ctx.day_of_trip, "group_size": ctx.group_size,
                   "item_tags": {c.id: c.tags for c in candidates}}  # for rankers with content features
        scores = np.asarray(self.model.score(ctx.user_id, ids, context), dtype=np.float64)
        if scores.shape != (len(ids),):
            raise RankerError(f"ML ranker returned {scores.shape} scores for {len(ids)} candidates")
        known = scores > UNKNOWN_FLOOR
        if not known.any():
            raise RankerError("ML ranker knows none of the candidates")
        lo = scores[known].min()
        scores = np.where(known, scores, lo - 1.0)  # unknown items rank last but stay finite
        order = np.lexsort((np.arange(len(ids)), -scores))
        hi = scores[order[0]]
        span = (hi - scores.min()) or 1.0
        return [RankedItem(ids[i], float(scores[i]), float((scores[i] - scores.min()) / span)) for i in order]

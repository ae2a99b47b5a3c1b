"""Popularity with recency decay: the always-available fallback.

It needs nothing but counts, fits in milliseconds on any amount of data, and answers for every user, known or not,
so when a model is missing, broken or a user is cold, this is what serves (and says so in `served_by`).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from shared.engine.rankers.base import register_ranker
from shared.engine.rankers.matrix import CompactRows, MatrixRanker

_US_PER_DAY = 86_400 * 1_000_000


@register_ranker
class PopularityRanker(MatrixRanker):
    """score(item) = sum over its positive interactions of weight * 0.5 ** (age / half_life).

    Age is measured from the newest training interaction (not "now"), so refitting the same data gives the same
    model. half_life_days=None (or data without time) gives plain weighted counts; use_weights=False counts users.
    """

    name: ClassVar[str] = "popularity"
    defaults: ClassVar[dict[str, Any]] = {"half_life_days": None, "use_weights": True}

    def _fit_matrix(self, X: sp.csr_matrix, rows: CompactRows) -> None:
        weights = rows.weights.astype(np.float64) if self.params["use_weights"] else np.ones(len(rows.items))
        half_life = self.params["half_life_days"]
        if half_life is not None and rows.timestamps is not None and len(rows.timestamps):
            if half_life <= 0:
                raise ValueError("half_life_days must be positive")
            age_days = (rows.timestamps.max() - rows.timestamps) / _US_PER_DAY
            weights = weights * np.power(0.5, age_days / float(half_life))
        scores = np.bincount(rows.items, weights=weights, minlength=X.shape[1]).astype(np.float32)
        self._popularity = scores  # the fallback for unknown users is this very ranking

    def _score_rows(self, user_codes: np.ndarray, X_rows: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self._popularity, (len(user_codes), len(self._popularity))).copy()

    def _model_state(self) -> dict[str, np.ndarray]:
        return {}

    def _restore_model(self, arrays: Mapping[str, np.ndarray]) -> None:
        pass

"""ALS and BPR matrix factorisation, trained by the `implicit` library (we do not re-implement either).

We keep only the learned factors: scoring is one matrix product, and an artifact does not depend on the pickle
format of a given `implicit` release. Threads are capped (num_threads, and BLAS via threadpoolctl) because the
machines are shared and because BPR's lock-free SGD is only reproducible single-threaded.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from shared.engine.rankers.base import register_ranker
from shared.engine.rankers.matrix import CompactRows, MatrixRanker, limited_threads


class _FactorRanker(MatrixRanker):
    user_factors: np.ndarray
    item_factors: np.ndarray

    def _score_rows(self, user_codes: np.ndarray, X_rows: sp.csr_matrix) -> np.ndarray:
        return self.user_factors[user_codes] @ self.item_factors.T

    def _model_state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _restore_model(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.user_factors = arrays["user_factors"]
        self.item_factors = arrays["item_factors"]

    def _take_factors(self, model: Any) -> None:
        to_numpy = getattr(model, "to_cpu", None)
        if to_numpy is not None and not isinstance(model.user_factors, np.ndarray):
            model = to_numpy()
        self.user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)


@register_ranker
class ALSRanker(_FactorRanker):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) via implicit.cpu.als.

    weighting="bm25" re-weights the confidence matrix with implicit's bm25_weight (damps heavy users and blockbuster
    items), which usually helps on MovieLens-like data."""

    name: ClassVar[str] = "als"
    defaults: ClassVar[dict[str, Any]] = {
        "factors": 64,
        "regularization": 0.05,
        "alpha": 1.0,
        "iterations": 15,
        "weighting": "none",
        "bm25_k1": 100.0,
        "bm25_b": 0.8,
        "num_threads": 2,
        "random_state": 42,
    }

    def _fit_matrix(self, X: sp.csr_matrix, rows: CompactRows) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        p = self.params
        if p["weighting"] == "bm25":
            from implicit.nearest_neighbours import bm25_weight

            X = bm25_weight(X, K1=p["bm25_k1"], B=p["bm25_b"]).tocsr().astype(np.float32)
        elif p["weighting"] != "none":
            raise ValueError("weighting must be 'none' or 'bm25'")
        # implicit parallelises over users itself and asks for single-threaded BLAS underneath
        with limited_threads(1, "blas"):
            model = AlternatingLeastSquares(
                factors=int(p["factors"]),
                regularization=float(p["regularization"]),
                alpha=float(p["alpha"]),
                iterations=int(p["iterations"]),
                num_threads=int(p["num_threads"]),
                random_state=p["random_state"],
            )
            model.fit(X, show_progress=False)
        self._take_factors(model)


@register_ranker
class BPRRanker(_FactorRanker):
    """Bayesian Personalised Ranking (Rendle et al. 2009) via implicit.cpu.bpr; item factors carry a bias column."""

    name: ClassVar[str] = "bpr"
    defaults: ClassVar[dict[str, Any]] = {
        "factors": 64,
        "learning_rate": 0.01,
        "regularization": 0.01,
        "iterations": 100,
        "num_threads": 1,
        "random_state": 42,
    }

    def _fit_matrix(self, X: sp.csr_matrix, rows: CompactRows) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        p = self.params
        model = BayesianPersonalizedRanking(
            factors=int(p["factors"]),
            learning_rate=float(p["learning_rate"]),
            regularization=float(p["regularization"]),
            iterations=int(p["iterations"]),
            num_threads=int(p["num_threads"]),
            random_state=p["random_state"],
        )
        with limited_threads(p["num_threads"]):
            model.fit((X > 0).astype(np.float32).tocsr(), show_progress=False)
        self._take_factors(model)

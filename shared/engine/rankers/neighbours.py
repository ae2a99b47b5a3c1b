"""Item-based neighbourhood models: item-kNN (similarities by the `implicit` library) and EASE.

Both score a user as (their training row) x (an item-item matrix), so they need no user factors and fold in a
user's history as-is. EASE (Steck 2019) is the closed-form ridge regression B = I - P / diag(P), P = (X'X + lI)^-1,
a few lines of linear algebra (no library ships it) that is a strong baseline on MovieLens-sized catalogues; its
cost is O(items^3) time and O(items^2) memory, so it is for catalogues up to some tens of thousands of items.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from shared.engine.rankers.base import register_ranker
from shared.engine.rankers.matrix import CompactRows, MatrixRanker, limited_threads


@register_ranker
class ItemKNNRanker(MatrixRanker):
    """Top-K item neighbours by cosine, BM25 or TF-IDF similarity (implicit.nearest_neighbours)."""

    name: ClassVar[str] = "item_knn"
    defaults: ClassVar[dict[str, Any]] = {"similarity": "cosine", "K": 100, "K1": 1.2, "B": 0.75, "num_threads": 2}

    def _fit_matrix(self, X: sp.csr_matrix, rows: CompactRows) -> None:
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, TFIDFRecommender

        p = self.params
        K, threads = int(p["K"]), int(p["num_threads"])
        if p["similarity"] == "cosine":
            model = CosineRecommender(K=K, num_threads=threads)
        elif p["similarity"] == "bm25":
            model = BM25Recommender(K=K, K1=float(p["K1"]), B=float(p["B"]), num_threads=threads)
        elif p["similarity"] == "tfidf":
            model = TFIDFRecommender(K=K, num_threads=threads)
        else:
            raise ValueError("similarity must be cosine, bm25 or tfidf")
        with limited_threads(threads), warnings.catch_warnings():
            # implicit converts its own normalised copy from COO and warns about it; nothing we pass is COO
            warnings.filterwarnings("ignore", message="Method expects CSR input")
            model.fit((X > 0).astype(np.float32).tocsr(), show_progress=False)
        self.similarity = model.similarity.tocsr().astype(np.float32)

    def _score_rows(self, user_codes: np.ndarray, X_rows: sp.csr_matrix) -> np.ndarray:
        binary = (X_rows > 0).astype(np.float32)
        return np.asarray((binary @ self.similarity).todense(), dtype=np.float32)

    def _model_state(self) -> dict[str, np.ndarray]:
        s = self.similarity
        return {"sim_data": s.data, "sim_indices": s.indices, "sim_indptr": s.indptr}

    def _restore_model(self, arrays: Mapping[str, np.ndarray]) -> None:
        n = len(self.item_ids)
        self.similarity = sp.csr_matrix(
            (arrays["sim_data"], arrays["sim_indices"], arrays["sim_indptr"]), shape=(n, n)
        )


@register_ranker
class EASERanker(MatrixRanker):
    """Embarrassingly Shallow Autoencoder on binary interactions; l2 is the ridge penalty lambda."""

    name: ClassVar[str] = "ease"
    defaults: ClassVar[dict[str, Any]] = {"l2": 500.0, "num_threads": 2, "max_items": 30_000}

    def _fit_matrix(self, X: sp.csr_matrix, rows: CompactRows) -> None:
        n_items = X.shape[1]
        if n_items > int(self.params["max_items"]):
            raise ValueError(
                f"EASE on {n_items} items needs a dense {n_items}^2 matrix; raise max_items if memory allows"
            )
        binary = (X > 0).astype(np.float64)
        with limited_threads(self.params["num_threads"]):
            gram = np.asarray((binary.T @ binary).todense())
            gram[np.diag_indices(n_items)] += float(self.params["l2"])
            # the Gram matrix plus a ridge is symmetric positive definite: a Cholesky inverse is exact and 2x cheaper
            c, low = scipy.linalg.cho_factor(gram, overwrite_a=True, check_finite=False)
            P = scipy.linalg.cho_solve((c, low), np.eye(n_items), check_finite=False)
        B = P / (-np.diag(P))
        B[np.diag_indices(n_items)] = 0.0
        self.B = np.ascontiguousarray(B, dtype=np.float32)  # cho_solve returns Fortran order: slow for csr @ B

    def _score_rows(self, user_codes: np.ndarray, X_rows: sp.csr_matrix) -> np.ndarray:
        binary = (X_rows > 0).astype(np.float32)
        return np.asarray(binary @ self.B, dtype=np.float32)

    def _model_state(self) -> dict[str, np.ndarray]:
        return {"B": self.B}

    def _restore_model(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.B = np.ascontiguousarray(arrays["B"], dtype=np.float32)

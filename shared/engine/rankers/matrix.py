"""The shared machinery of collaborative-filtering rankers: a user x item training matrix in, a score matrix out.

Subclasses implement `_fit_matrix(X)` and `_score_rows(user_codes, X_rows)`; this class does the rest once: its own
vocabularies (only users and items seen in training: a CF model cannot know anything else), exclusion of seen items,
vectorised top-k for many users, a popularity fallback for users it has never seen, artifacts and versions.
"""
from __future__ import annotations

import time
from abc import abstractmethod
from datetime import UTC, datetime
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from shared.engine.data.dataset import InteractionDataset
from shared.engine.rankers.base import (
    UNKNOWN_SCORE,
    Manifest,
    NotFittedError,
    Ranker,
    RankerError,
    Recommendation,
    params_version,
)

DEFAULT_THREADS = 2


@contextmanager
def limited_threads(n: int, user_api: str | None = None):
    """Cap BLAS/OpenMP threads (user_api "blas" or "openmp" for one of them): the machines we share are small, and
    fewer threads keep results reproducible."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=max(1, int(n)), user_api=user_api):
        yield


class MatrixRanker(Ranker):
    #: hyper-parameter names and defaults; unknown names are refused so a typo cannot silently use a default
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise RankerError(f"{self.name}: unknown parameter(s) {', '.join(unknown)}; known: {sorted(self.defaults)}")
        super().__init__(**{**self.defaults, **params})
        self.user_ids: np.ndarray | None = None
        self.item_ids: np.ndarray | None = None
        self._seen: sp.csr_matrix | None = None  # training interactions (weights), users x items
        self._popularity: np.ndarray | None = None  # fallback scores for unknown users
        self._user_index: dict[str, int] = {}
        self._item_index: dict[str, int] = {}

    # --- what a subclass provides -------------------------------------------------------------------------------
    @abstractmethod
    def _fit_matrix(self, X: sp.csr_matrix, rows: CompactRows) -> None:
        """X: users x items (compacted to seen users/items), float32 summed weights.
        rows: the positive training rows in compact codes, for rankers that need time (popularity decay)."""

    @abstractmethod
    def _score_rows(self, user_codes: np.ndarray, X_rows: sp.csr_matrix) -> np.ndarray:
        """Scores for these users over all items, shape (len(user_codes), n_items)."""

    @abstractmethod
    def _model_state(self) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def _restore_model(self, arrays: Mapping[str, np.ndarray]) -> None: ...

    # --- fit --------------------------------------------------------------------------------------------------------
    def fit(self, dataset: InteractionDataset) -> MatrixRanker:
        mask = dataset.positive_mask()
        if not mask.any():
            raise RankerError(f"{self.name}: {dataset.name} has no positive interactions to learn from")
        users_used = np.unique(dataset.users[mask])
        items_used = np.unique(dataset.items[mask])
        umap = np.full(dataset.n_users, -1, dtype=np.int64)
        umap[users_used] = np.arange(len(users_used))
        imap = np.full(dataset.n_items, -1, dtype=np.int64)
        imap[items_used] = np.arange(len(items_used))
        X = sp.csr_matrix(
            (dataset.weights[mask].astype(np.float32), (umap[dataset.users[mask]], imap[dataset.items[mask]])),
            shape=(len(users_used), len(items_used)),
            dtype=np.float32,
        )
        X.sum_duplicates()
        X.sort_indices()
        self.user_ids = dataset.user_ids[users_used].astype(str)
        self.item_ids = dataset.item_ids[items_used].astype(str)
        self._seen = X
        self._popularity = np.asarray((X > 0).sum(axis=0)).ravel().astype(np.float32)
        self._build_indexes()
        start = time.perf_counter()
        self._fit_matrix(X, CompactRows(dataset, mask, umap, imap))
        fit_seconds = time.perf_counter() - start
        trained_on = {
            "dataset": dataset.name,
            "fingerprint": dataset.fingerprint,
            "interactions": int(X.nnz),
            "users": len(self.user_ids),
            "items": len(self.item_ids),
        }
        if dataset.timestamps is not None:
            # the newest training interaction: an evaluation on later data is leak-free, earlier data is not
            newest = int(dataset.timestamps[mask].max())
            trained_on["until"] = datetime.fromtimestamp(newest / 1e6, UTC).isoformat()
        self.version = params_version(self.name, self.params, trained_on)
        self.manifest = Manifest(self.name, self.version, dict(self.params), trained_on, round(fit_seconds, 4))
        return self

    def _build_indexes(self) -> None:
        self._user_index = {u: i for i, u in enumerate(self.user_ids)}
        self._item_index = {x: i for i, x in enumerate(self.item_ids)}

    def _require_fitted(self) -> None:
        if self._seen is None:
            raise NotFittedError(f"{self.name}: call fit() or load an artifact first")

    @property
    def fit_seconds(self) -> float | None:
        return self.manifest.fit_seconds if self.manifest else None

    # --- scoring ----------------------------------------------------------------------------------------------------
    def user_code(self, user: str) -> int:
        return self._user_index.get(str(user), -1)

    def item_codes(self, items: Sequence[str] | np.ndarray) -> np.ndarray:
        """Ranker item codes for these ids; -1 for items it never saw."""
        get = self._item_index.get
        return np.fromiter((get(str(x), -1) for x in items), dtype=np.int64, count=len(items))

    def score_codes(self, user_codes: np.ndarray) -> np.ndarray:
        """Dense scores (float32) over all ranker items; unknown users (code -1) get the popularity fallback."""
        self._require_fitted()
        user_codes = np.asarray(user_codes, dtype=np.int64)
        out = np.empty((len(user_codes), len(self.item_ids)), dtype=np.float32)
        known = user_codes >= 0
        if known.any():
            codes = user_codes[known]
            out[known] = self._score_rows(codes, self._seen[codes])
        if (~known).any():
            out[~known] = self._popularity
        return out

    def score(self, user: str, items: Sequence[str], context: Mapping[str, Any] | None = None) -> np.ndarray:
        codes = self.item_codes(items)
        row = self.score_codes(np.array([self.user_code(user)]))[0]
        scores = np.full(len(codes), UNKNOWN_SCORE, dtype=np.float64)
        ok = codes >= 0
        scores[ok] = row[codes[ok]]
        return scores

    def seen_items(self, user: str) -> set[str]:
        self._require_fitted()
        u = self.user_code(user)
        if u < 0:
            return set()
        return set(self.item_ids[self._seen.indices[self._seen.indptr[u] : self._seen.indptr[u + 1]]])

    def top_k_codes(
        self,
        user_codes: np.ndarray,
        k: int,
        exclude_seen: bool = True,
        exclude: sp.csr_matrix | None = None,
        batch_size: int = 1024,
    ) -> np.ndarray:
        """(n_users, k) ranker item codes, best first, -1 where fewer than k items remain.

        exclude: optional extra users x items matrix (rows aligned with user_codes, columns in ranker item space).
        Ties break toward the lower item code, so results do not depend on argpartition internals."""
        self._require_fitted()
        user_codes = np.asarray(user_codes, dtype=np.int64)
        n_items = len(self.item_ids)
        k_eff = min(k, n_items)
        result = np.full((len(user_codes), k), -1, dtype=np.int64)
        for start in range(0, len(user_codes), batch_size):
            codes = user_codes[start : start + batch_size]
            scores = self.score_codes(codes).astype(np.float64)
            if exclude_seen:
                known = np.flatnonzero(codes >= 0)
                if len(known):
                    sub = self._seen[codes[known]]
                    rows = np.repeat(known, np.diff(sub.indptr))
                    scores[rows, sub.indices] = -np.inf
            if exclude is not None:
                sub = exclude[start : start + len(codes)].tocsr()
                rows = np.repeat(np.arange(len(codes)), np.diff(sub.indptr))
                scores[rows, sub.indices] = -np.inf
            part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff] if k_eff < n_items else np.tile(
                np.arange(n_items), (len(codes), 1)
            )
            part_scores = np.take_along_axis(scores, part, axis=1)
            order = np.lexsort((part, -part_scores), axis=1)
            top = np.take_along_axis(part, order, axis=1)
            top_scores = np.take_along_axis(part_scores, order, axis=1)
            top[~np.isfinite(top_scores)] = -1
            result[start : start + len(codes), :k_eff] = top
        return result

    def recommend(
        self,
        user: str,
        k: int = 10,
        exclude_seen: bool = True,
        candidates: Sequence[str] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[Recommendation]:
        if candidates is not None:
            return super().recommend(user, k, exclude_seen, candidates, context)
        code = self.user_code(user)
        served_by = self.served_by if code >= 0 else f"{self.served_by}/popularity-fallback"
        top = self.top_k_codes(np.array([code]), k, exclude_seen=exclude_seen)[0]
        top = top[top >= 0]
        scores = self.score_codes(np.array([code]))[0]
        return [Recommendation(str(self.item_ids[i]), float(scores[i]), served_by) for i in top]

    # --- artifacts --------------------------------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        self._require_fitted()
        model = self._model_state()
        clash = set(model) & {"user_ids", "item_ids", "seen_indptr", "seen_indices", "seen_data", "popularity"}
        if clash:
            raise RankerError(f"{self.name}: model state uses reserved key(s) {sorted(clash)}")
        return {
            "user_ids": self.user_ids.astype(str),
            "item_ids": self.item_ids.astype(str),
            "seen_indptr": self._seen.indptr,
            "seen_indices": self._seen.indices,
            "seen_data": self._seen.data,
            "popularity": self._popularity,
            **model,
        }

    def restore(self, manifest: Manifest, arrays: Mapping[str, np.ndarray]) -> None:
        self.user_ids = arrays["user_ids"]
        self.item_ids = arrays["item_ids"]
        self._seen = sp.csr_matrix(
            (arrays["seen_data"], arrays["seen_indices"], arrays["seen_indptr"]),
            shape=(len(self.user_ids), len(self.item_ids)),
        )
        self._popularity = arrays["popularity"]
        self._build_indexes()
        self._restore_model(arrays)


class CompactRows:
    """The positive training rows in the ranker's compact codes (what `_fit_matrix` may need beyond X)."""

    def __init__(self, ds: InteractionDataset, mask: np.ndarray, umap: np.ndarray, imap: np.ndarray) -> None:
        self.name = ds.name
        self.items = imap[ds.items[mask]]
        self.users = umap[ds.users[mask]]
        self.weights = ds.weights[mask]
        self.timestamps = None if ds.timestamps is None else ds.timestamps[mask]

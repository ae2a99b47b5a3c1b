"""One interaction dataset type for every source: MovieLens, Food.com, our own signals export.

Rows are (user, item, time, weight, context...). Users and items are the source's own string ids, held once in a
vocabulary and referenced by int32 codes, so a 1M-row dataset stays a handful of numpy arrays. A split keeps the
parent's vocabularies: train and test rows index the same codes, so no id mapping can silently drift between them.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp


def _as_str_array(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "UO":
        arr = arr.astype(str)
    if arr.dtype.kind == "O":
        if any(v is None for v in arr):
            raise ValueError("ids must not be null")
        arr = arr.astype(str)
    return arr


@dataclass(frozen=True, eq=False)
class InteractionDataset:
    """Column arrays of equal length plus the two vocabularies.

    timestamps: int64 microseconds since the epoch (UTC), or None when the source has no time (ML-1M implicit).
    weights: float32; 1.0 for plain implicit feedback.
    context: extra per-row columns (rating, signal_type, trip_id, day_part, positive, ...), row-aligned.
    item_features: per-item columns aligned with item_ids (title, tags, ...), for content/cold-start rankers.
    """

    name: str
    user_ids: np.ndarray
    item_ids: np.ndarray
    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray | None
    weights: np.ndarray
    context: Mapping[str, np.ndarray] = field(default_factory=dict)
    item_features: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.users)
        if len(self.items) != n or len(self.weights) != n:
            raise ValueError("users, items and weights must have the same length")
        if self.timestamps is not None and len(self.timestamps) != n:
            raise ValueError("timestamps must have one value per row")
        for key, col in self.context.items():
            if len(col) != n:
                raise ValueError(f"context column {key!r} has {len(col)} values for {n} rows")
        for key, col in self.item_features.items():
            if len(col) != len(self.item_ids):
                raise ValueError(f"item feature {key!r} must align with item_ids")

    # --- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_columns(
        cls,
        name: str,
        user_ids: Sequence[Any] | np.ndarray,
        item_ids: Sequence[Any] | np.ndarray,
        timestamps: Sequence[int] | np.ndarray | None = None,
        weights: Sequence[float] | np.ndarray | None = None,
        context: Mapping[str, Sequence[Any] | np.ndarray] | None = None,
        item_features: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> InteractionDataset:
        """Rows in their given order (splitters that mirror published protocols depend on it).

        item_features maps a feature name to {item_id: value}; items without a value get None.
        """
        u = _as_str_array(user_ids)
        i = _as_str_array(item_ids)
        if len(u) != len(i):
            raise ValueError("user_ids and item_ids must have the same length")
        user_vocab, user_codes = np.unique(u, return_inverse=True)
        item_vocab, item_codes = np.unique(i, return_inverse=True)
        ts = None if timestamps is None else np.asarray(timestamps, dtype=np.int64)
        w = np.ones(len(u), dtype=np.float32) if weights is None else np.asarray(weights, dtype=np.float32)
        ctx = {k: np.asarray(v) for k, v in (context or {}).items()}
        feats: dict[str, np.ndarray] = {}
        for fname, mapping in (item_features or {}).items():
            col = np.empty(len(item_vocab), dtype=object)  # one object per item, even when values are equal-length
            for k, x in enumerate(item_vocab):               # tuples (np.array would make those a 2-D array)
                col[k] = mapping.get(str(x))
            feats[fname] = col
        return cls(
            name=name,
            user_ids=user_vocab,
            item_ids=item_vocab,
            users=user_codes.astype(np.int32),
            items=item_codes.astype(np.int32),
            timestamps=ts,
            weights=w,
            context=ctx,
            item_features=feats,
        )

    # --- shape ----------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.users)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def has_time(self) -> bool:
        return self.timestamps is not None

    def describe(self) -> dict[str, Any]:
        active_users = int(np.unique(self.users).size) if len(self) else 0
        active_items = int(np.unique(self.items).size) if len(self) else 0
        out: dict[str, Any] = {
            "name": self.name,
            "interactions": len(self),
            "users": active_users,
            "items": active_items,
            "has_time": self.has_time,
            "fingerprint": self.fingerprint,
        }
        if active_users and active_items:
            out["density"] = round(len(self) / (active_users * active_items), 6)
        return out

    # --- derived views --------------------------------------------------------------------------------------------
    def subset(self, rows: np.ndarray, name: str | None = None) -> InteractionDataset:
        """Rows selected by a boolean mask or an index array, vocabularies unchanged."""
        rows = np.asarray(rows)
        return InteractionDataset(
            name=name or self.name,
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            users=self.users[rows],
            items=self.items[rows],
            timestamps=None if self.timestamps is None else self.timestamps[rows],
            weights=self.weights[rows],
            context={k: v[rows] for k, v in self.context.items()},
            item_features=self.item_features,
        )

    def positive_mask(self) -> np.ndarray:
        """Rows that count as positive feedback: the `positive` column where the source has one, else weight > 0."""
        if "positive" in self.context:
            return self.context["positive"].astype(bool)
        return self.weights > 0

    def csr(self, binary: bool = False, positives_only: bool = True) -> sp.csr_matrix:
        """users x items (the full vocabularies); repeated pairs sum their weights, or count once when binary."""
        mask = self.positive_mask() if positives_only else np.ones(len(self), dtype=bool)
        data = np.ones(int(mask.sum()), dtype=np.float32) if binary else self.weights[mask].astype(np.float32)
        mat = sp.csr_matrix(
            (data, (self.users[mask], self.items[mask])), shape=(self.n_users, self.n_items), dtype=np.float32
        )
        mat.sum_duplicates()
        if binary:
            mat.data[:] = 1.0
        mat.eliminate_zeros()
        return mat

    def items_by_user(self, positives_only: bool = True) -> dict[int, np.ndarray]:
        """user code -> sorted unique item codes."""
        m = self.csr(binary=True, positives_only=positives_only)
        return {int(u): m.indices[m.indptr[u] : m.indptr[u + 1]].copy() for u in np.flatnonzero(np.diff(m.indptr))}

    @cached_property
    def user_index(self) -> dict[str, int]:
        return {str(u): i for i, u in enumerate(self.user_ids)}

    @cached_property
    def item_index(self) -> dict[str, int]:
        return {str(x): i for i, x in enumerate(self.item_ids)}

    @cached_property
    def fingerprint(self) -> str:
        """Content hash: identical rows and vocabularies give the same fingerprint on any machine."""
        h = hashlib.sha256()
        h.update("\x1f".join(map(str, self.user_ids)).encode())
        h.update(b"\x1e")
        h.update("\x1f".join(map(str, self.item_ids)).encode())
        for arr in (self.users, self.items, self.weights):
            h.update(np.ascontiguousarray(arr).tobytes())
        if self.timestamps is not None:
            h.update(np.ascontiguousarray(self.timestamps).tobytes())
        return h.hexdigest()[:16]

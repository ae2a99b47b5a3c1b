"""Train/test splitters. Each returns a `Split` that names itself (kind, parameters, seed), so a report can say
exactly how a figure was produced and anyone can reproduce it.

- stratified_random_split: per user, a random `ratio` of their rows to train. Bit-for-bit the Microsoft Recommenders
  `python_stratified_split` (one `np.random.RandomState(seed).rand()` draw per row in input order, rows ranked within
  user by that draw, the first round(ratio * count) to train; numpy rounds halves to even, like pandas).
- random_split: a global random `ratio` of rows to train.
- leave_last_out: per user, the last `n` rows by time to test (users with <= n rows stay in train).
- temporal_split: a global time cut; everything before it trains, everything at or after it tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shared.engine.data.dataset import InteractionDataset


@dataclass(frozen=True, eq=False)
class Split:
    train: InteractionDataset
    test: InteractionDataset
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def description(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.kind}({args})"

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "params": self.params,
            "description": self.description,
            "train": self.train.describe(),
            "test": self.test.describe(),
        }


def _check_ratio(ratio: float) -> None:
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio must be between 0 and 1 (exclusive), got {ratio}")


def _split(ds: InteractionDataset, train_mask: np.ndarray, kind: str, params: dict[str, Any]) -> Split:
    return Split(
        train=ds.subset(train_mask, name=f"{ds.name}/train"),
        test=ds.subset(~train_mask, name=f"{ds.name}/test"),
        kind=kind,
        params=params,
    )


def _rank_within_user(users: np.ndarray, order_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1-based rank of each row within its user when sorted by order_key (ties by row order), and the user's count."""
    order = np.lexsort((np.arange(len(users)), order_key, users))
    sorted_users = users[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    counts_sorted = np.diff(np.r_[starts, len(users)])
    group_start = np.repeat(starts, counts_sorted)
    rank = np.empty(len(users), dtype=np.int64)
    rank[order] = np.arange(len(users)) - group_start + 1
    count = np.empty(len(users), dtype=np.int64)
    count[order] = np.repeat(counts_sorted, counts_sorted)
    return rank, count


def stratified_random_split(ds: InteractionDataset, ratio: float = 0.75, seed: int = 42) -> Split:
    _check_ratio(ratio)
    draws = np.random.RandomState(seed).rand(len(ds))
    rank, count = _rank_within_user(ds.users, draws)
    train = rank <= np.round(ratio * count)
    return _split(ds, train, "stratified_random", {"ratio": ratio, "seed": seed})


def random_split(ds: InteractionDataset, ratio: float = 0.8, seed: int = 42) -> Split:
    _check_ratio(ratio)
    perm = np.random.default_rng(seed).permutation(len(ds))
    train = np.zeros(len(ds), dtype=bool)
    train[perm[: int(round(ratio * len(ds)))]] = True
    return _split(ds, train, "random", {"ratio": ratio, "seed": seed})


def leave_last_out(ds: InteractionDataset, n: int = 1) -> Split:
    if ds.timestamps is None:
        raise ValueError(f"{ds.name} has no timestamps: leave-last-out needs time (use stratified_random_split)")
    if n < 1:
        raise ValueError("n must be >= 1")
    rank, count = _rank_within_user(ds.users, ds.timestamps)
    test = (count > n) & (rank > count - n)
    return _split(ds, ~test, "leave_last_out", {"n": n})


def temporal_split(ds: InteractionDataset, ratio: float | None = 0.8, cutoff_us: int | None = None) -> Split:
    """Cut at `cutoff_us` (microseconds since the epoch), or at the `ratio` quantile of time when no cutoff is given."""
    if ds.timestamps is None:
        raise ValueError(f"{ds.name} has no timestamps: a temporal split needs time")
    if cutoff_us is None:
        if ratio is None:
            raise ValueError("give ratio or cutoff_us")
        _check_ratio(ratio)
        ordered = np.sort(ds.timestamps)
        cutoff_us = int(ordered[min(int(round(ratio * len(ordered))), len(ordered) - 1)])
    train = ds.timestamps < cutoff_us
    params: dict[str, Any] = {"cutoff_us": int(cutoff_us)}
    if ratio is not None:
        params["ratio"] = ratio
    return _split(ds, train, "temporal", params)


def make_split(ds: InteractionDataset, spec: str, seed: int = 42) -> Split:
    """A split from a short spec, as the evaluate job's --split takes it:
    'stratified:0.75', 'random:0.8', 'leave-last:1', 'temporal:0.8'."""
    kind, _, arg = spec.partition(":")
    try:
        if kind == "stratified":
            return stratified_random_split(ds, float(arg or 0.75), seed)
        if kind == "random":
            return random_split(ds, float(arg or 0.8), seed)
        if kind == "leave-last":
            return leave_last_out(ds, int(arg or 1))
        if kind == "temporal":
            return temporal_split(ds, float(arg or 0.8))
    except ValueError as exc:
        raise ValueError(f"split {spec!r}: {exc}") from None
    raise ValueError(f"unknown split {spec!r}: use stratified:R, random:R, leave-last:N or temporal:R")

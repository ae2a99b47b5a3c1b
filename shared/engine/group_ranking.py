"""Group recommendation by aggregating the members' predicted utilities into one group score per item.

A group has no ranker of its own; its members do. Each aggregation is a different answer to "whose happiness
counts": the average maximises total utility (and lets a majority outvote a member who hates the item), least misery
protects the unhappiest member, and Nash welfare (the product of utilities) sits between them, rewarding items that
leave everyone reasonably happy. They are cheap, need no group training data, and work for a group formed a minute
ago, which is why they are the default; a learned group model (group_ranking_learned) can sit on top.

Aggregations only make sense when members' numbers are on one scale, so raw ranker scores first go through
`to_utilities`. Nothing here knows what an item is (venue, movie, recipe).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
from scipy.stats import rankdata

from shared.engine.rankers.base import UNKNOWN_SCORE

#: Utilities at or below this are floored in Nash welfare, so one member's zero does not make every item -inf.
NASH_EPSILON = 1e-3


@runtime_checkable
class Aggregation(Protocol):
    """(n_members, n_items) utilities in [0, 1] -> (n_items,) group scores, higher is better."""

    name: str

    def combine(self, member_scores: np.ndarray) -> np.ndarray: ...


def _as_matrix(member_scores: np.ndarray) -> np.ndarray:
    u = np.asarray(member_scores, dtype=np.float64)
    if u.ndim != 2 or u.shape[0] == 0:
        raise ValueError("member_scores must be (n_members >= 1, n_items)")
    return u


@dataclass(frozen=True)
class Average:
    """Utilitarian: the mean. The comparison point; it can pick an item one member hates if the others love it."""

    name: ClassVar[str] = "average"

    def combine(self, member_scores: np.ndarray) -> np.ndarray:
        return _as_matrix(member_scores).mean(axis=0)


@dataclass(frozen=True)
class LeastMisery:
    """The group is as happy as its unhappiest member: the minimum. Nobody is dragged somewhere they hate."""

    name: ClassVar[str] = "least_misery"

    def combine(self, member_scores: np.ndarray) -> np.ndarray:
        return _as_matrix(member_scores).min(axis=0)


@dataclass(frozen=True)
class NashWelfare:
    """The product of utilities, as a sum of logs (no underflow for big groups).

    A product falls fast when any one factor is small, so balanced items win, yet unlike the minimum every member's
    utility still counts. Utilities are floored at `epsilon` first: without it, a single zero sends an item to -inf
    and all such items tie, whatever the other members think of them."""

    epsilon: float = NASH_EPSILON
    name: ClassVar[str] = "nash_welfare"

    def __post_init__(self) -> None:
        if not 0 < self.epsilon < 1:
            raise ValueError("epsilon must be in (0, 1)")

    def combine(self, member_scores: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(_as_matrix(member_scores), self.epsilon)).sum(axis=0)


AGGREGATIONS: dict[str, type] = {cls.name: cls for cls in (LeastMisery, NashWelfare, Average)}


def aggregation(name: str) -> Aggregation:
    """The aggregation registered under `name` (least_misery, nash_welfare, average)."""
    try:
        return AGGREGATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown aggregation {name!r}; choose one of {', '.join(sorted(AGGREGATIONS))}") from None


UTILITY_METHODS = ("rank", "minmax")


def to_utilities(scores: np.ndarray, method: str = "rank") -> np.ndarray:
    """Raw per-member ranker scores (n_members, n_items), or one member's (n_items,), -> utilities in [0, 1], row
    by row (same shape out).

    "rank" (default): the share of the other items the item beats for this member (ties share their rank). Rankers'
    raw scales differ between members (factor-model scores grow with a user's activity, EASE scores can be negative)
    and a single outlier would squash a min-max row; a percentile is scale-free and reads the same for everyone
    ("in this member's top 1%"), which is what min and product across members need to be meaningful.
    "minmax": (s - min) / (max - min) per row; keeps how much more a member likes one item than another, which can
    matter when a few items dominate a member's row (repeat visits). The benchmark picks between them on validation.

    Scores the ranker could not give (UNKNOWN_SCORE or below, NaN, -inf) get utility 0.
    """
    raw = np.asarray(scores, dtype=np.float64)
    if raw.ndim not in (1, 2):
        raise ValueError("scores must be (n_items,) or (n_members, n_items)")
    s = np.atleast_2d(raw)
    known = np.isfinite(s) & (s > UNKNOWN_SCORE)
    n_items = s.shape[1]
    if method == "rank":
        if n_items == 1:
            return np.where(known, 1.0, 0.0).reshape(raw.shape)
        filled = np.where(known, s, -np.inf)
        out = (rankdata(filled, axis=1, method="average") - 1.0) / (n_items - 1)
    elif method == "minmax":
        lo = np.where(known, s, np.inf).min(axis=1, keepdims=True)
        hi = np.where(known, s, -np.inf).max(axis=1, keepdims=True)
        span = hi - lo
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(span > 0, (s - lo) / np.where(span > 0, span, 1.0), 1.0)  # a flat row: all equally fine
    else:
        raise ValueError(f"unknown utility method {method!r}; choose one of {', '.join(UTILITY_METHODS)}")
    return np.where(known, out, 0.0).reshape(raw.shape)


def member_satisfaction(utilities: np.ndarray, chosen_index: int | np.ndarray) -> np.ndarray:
    """Each member's utility of the chosen item(s): (n_members,) for one index, (n_members, k) for k indices.

    What the group sees next to a suggestion ("Ana 0.95, Ben 0.62"), so a compromise is visible as one."""
    u = _as_matrix(utilities)
    idx = np.asarray(chosen_index)
    if idx.dtype.kind not in "iu":
        raise ValueError("chosen_index must be an integer index or an array of them")
    if (idx < -u.shape[1]).any() or (idx >= u.shape[1]).any():
        raise IndexError(f"chosen_index out of range for {u.shape[1]} items")
    return u[:, idx]


def group_scores(utilities: np.ndarray, how: str | Aggregation = "least_misery") -> np.ndarray:
    """Shorthand: aggregate one group's utilities with a named (or given) aggregation."""
    agg = aggregation(how) if isinstance(how, str) else how
    return agg.combine(utilities)

"""Chronological per-user item sequences and the leave-last-out split every sequential benchmark uses.

Any `user, item, timestamp` table can be turned into Sequences (from_triples): the Foursquare check-in arrays
(`[user, poi, minutes]` .npy), MovieLens `u.data`, or a CSV with those three columns. Item ids become codes
1..n_items (0 is padding for the models); ties in time keep the file's order.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Sequences:
    name: str
    users: np.ndarray            # original user ids, one per sequence
    seqs: list[np.ndarray]       # item codes (1..n_items), oldest first
    item_ids: np.ndarray         # code - 1 -> original item id

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_events(self) -> int:
        return int(sum(len(s) for s in self.seqs))


def from_triples(name: str, users, items, times) -> Sequences:
    users, items, times = np.asarray(users), np.asarray(items), np.asarray(times)
    if not (len(users) == len(items) == len(times)):
        raise ValueError("users, items and times must have the same length")
    item_ids, codes = np.unique(items, return_inverse=True)
    order = np.lexsort((np.arange(len(users)), times, users))  # by user, then time, then file order
    users_sorted, codes_sorted = users[order], codes[order] + 1
    starts = np.flatnonzero(np.r_[True, users_sorted[1:] != users_sorted[:-1]])
    ends = np.r_[starts[1:], len(users_sorted)]
    return Sequences(name, users_sorted[starts], [codes_sorted[a:b].astype(np.int64) for a, b in zip(starts, ends)],
                     item_ids)


def load_checkins_npy(path: Path, name: str | None = None) -> Sequences:
    """The STAN preprocessing of the Foursquare check-ins: an int array of [user, poi, minutes] rows."""
    arr = np.load(path)
    if arr.ndim != 2 or arr.shape[1] < 3:
        raise ValueError(f"{path}: expected rows of [user, poi, minutes]")
    return from_triples(name or path.stem, arr[:, 0], arr[:, 1], arr[:, 2])


def load_movielens(path: Path, name: str = "movielens-100k") -> Sequences:
    """MovieLens u.data (user, item, rating, timestamp; tab-separated): every rating is an interaction."""
    arr = np.loadtxt(path, dtype=np.int64, delimiter="\t")
    return from_triples(name, arr[:, 0], arr[:, 1], arr[:, 3])


def load_csv(path: Path, user: str = "user", item: str = "item", timestamp: str = "timestamp",
             name: str | None = None) -> Sequences:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    missing = {user, item, timestamp} - set(rows[0] if rows else ())
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    return from_triples(name or path.stem, [r[user] for r in rows], [r[item] for r in rows],
                        np.array([float(r[timestamp]) for r in rows]))


def load_any(path: Path) -> Sequences:
    if path.suffix == ".npy":
        return load_checkins_npy(path)
    if path.name == "u.data":
        return load_movielens(path)
    return load_csv(path)


@dataclass
class Split:
    """Leave-last-out: per user the last item is the test target, the one before it the validation target,
    everything before that is training history. Users with fewer than 3 events are dropped."""
    train: list[np.ndarray]
    valid: np.ndarray
    test: np.ndarray
    users: np.ndarray
    n_items: int

    def history(self, i: int, for_test: bool) -> np.ndarray:
        """What the model sees before predicting: the training history, plus the validation item for test."""
        return np.r_[self.train[i], self.valid[i]] if for_test else self.train[i]


def leave_last_out(s: Sequences, min_events: int = 3) -> Split:
    keep = [i for i, q in enumerate(s.seqs) if len(q) >= min_events]
    return Split([s.seqs[i][:-2] for i in keep], np.array([s.seqs[i][-2] for i in keep]),
                 np.array([s.seqs[i][-1] for i in keep]), s.users[keep], s.n_items)


def pad_left(histories: list[np.ndarray], maxlen: int) -> np.ndarray:
    """(len(histories), maxlen) item codes: each history's last maxlen items, right-aligned, 0 before them."""
    out = np.zeros((len(histories), maxlen), dtype=np.int64)
    for i, h in enumerate(histories):
        tail = h[-maxlen:]
        if len(tail):
            out[i, -len(tail):] = tail
    return out

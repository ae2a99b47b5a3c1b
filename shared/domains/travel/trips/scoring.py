"""From one archetype-level ranking to per-slot relevance, and the personal re-weighting on top.

The ranker scores the city's candidates once per (city, archetype). Each (day part, trip day)
combination is derived from that: scores normalised to [0, 1], multiplied by day-part fit, with later
trip days leaning toward less obvious venues. These derived lists are what the cache stores per
combination. A user's own tags and user-tower vector then add a personal term (no ranker call).
"""
from __future__ import annotations

import numpy as np

from shared.domains.travel.trips.dayparts import MIN_FIT, day_part_fit, open_during
from shared.engine.serving.types import Candidate

COMBO_SIZE = 80
TAG_WEIGHT = 0.30
VECTOR_WEIGHT = 0.15
TEXT_WEIGHT = 0.25
NOVELTY_WEIGHT = 0.08


def normalise(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    vals = np.fromiter(scores.values(), dtype=np.float64)
    lo, hi = float(vals.min()), float(vals.max())
    span = hi - lo if hi - lo > 1e-12 else 1.0
    return {k: (v - lo) / span for k, v in scores.items()}


def derive_combo(base: list[tuple[str, float]], pool: dict[str, Candidate], day_part: str, day_of_trip: int,
                 size: int = COMBO_SIZE) -> list[tuple[str, float]]:
    norm = normalise(dict(base))
    lean = min(1.0, (day_of_trip - 1) / 4.0)
    out = []
    for vid, s in norm.items():
        c = pool.get(vid)
        if c is None:
            continue
        fit = day_part_fit(c.category, c.tags, day_part)
        if fit < MIN_FIT or not open_during(c.hours, day_part):
            continue
        out.append((vid, round(s * fit + NOVELTY_WEIGHT * lean * (1.0 - c.quality), 5)))
    out.sort(key=lambda x: -x[1])
    return out[:size]


def personal_scores(terms: tuple[str, ...], keywords: tuple[str, ...], user_vector: np.ndarray | None,
                    pool: dict[str, Candidate]) -> dict[str, float]:
    """TAG_WEIGHT · (taxonomy tags shared, saturating at 2) + TEXT_WEIGHT · (a keyword such as "ramen" in the
    venue's name or description) + VECTOR_WEIGHT · cosine(user tower, item vector)."""
    wanted = set(terms)
    kws = [k.lower() for k in keywords]
    ids = list(pool)
    out = np.zeros(len(ids))
    for i, vid in enumerate(ids):
        c = pool[vid]
        if wanted:
            out[i] += TAG_WEIGHT * min(1.0, len(wanted.intersection(c.tags)) / 2.0)
        if kws:
            text = c.extra.get("text") or c.name.lower()
            if any(k in text for k in kws):
                out[i] += TEXT_WEIGHT
    if user_vector is not None and ids:
        n = float(np.linalg.norm(user_vector))
        with_vec = [i for i, vid in enumerate(ids) if pool[vid].vector is not None]
        if n > 0 and with_vec:
            mat = np.stack([pool[ids[i]].vector for i in with_vec]).astype(np.float32)
            norms = np.linalg.norm(mat, axis=1)
            cos = (mat @ (np.asarray(user_vector, dtype=np.float32) / n)) / np.where(norms == 0, 1.0, norms)
            out[with_vec] += VECTOR_WEIGHT * np.clip(cos, 0.0, None)
    return {vid: float(v) for vid, v in zip(ids, out)}


def combine(combo: list[tuple[str, float]], personal: dict[str, float]) -> dict[str, float]:
    return {vid: s + personal.get(vid, 0.0) for vid, s in combo}

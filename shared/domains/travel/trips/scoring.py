"""From one archetype-level ranking to per-slot relevance, and the personal re-weighting on top.

The ranker scores the city's candidates once per (city, archetype). Each (day part, trip day)
combination is derived from that: scores normalised to [0, 1], multiplied by day-part fit, with later
trip days leaning toward less obvious venues. Opening hours depend on the date, so they are applied at
assembly (stops.arrival_window), not here. These derived lists are what the cache stores per
combination. A user's own tags and user-tower vector then add a personal term (no ranker call), with
each tag counting only in the day parts it is about.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from shared.domains.travel.trips.dayparts import MIN_FIT, day_part_fit
from shared.domains.travel.trips.tags import Tags
from shared.engine.serving.types import Candidate

COMBO_SIZE = 200   # every fitting candidate: a personal term may lift any of them
TAG_WEIGHT = 0.30
VECTOR_WEIGHT = 0.15
TEXT_WEIGHT = 0.40  # a keyword in the venue's own text ("ramen") is the strongest evidence we have
NOVELTY_WEIGHT = 0.08


def normalise(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    vals = np.fromiter(scores.values(), dtype=np.float64)
    lo, hi = float(vals.min()), float(vals.max())
    span = hi - lo if hi - lo > 1e-12 else 1.0
    return {k: (v - lo) / span for k, v in scores.items()}


def derive_combos(base: list[tuple[str, float]], pool: dict[str, Candidate], parts, days,
                  size: int = COMBO_SIZE) -> dict[tuple[str, int], list[tuple[str, float]]]:
    """Every (day part, trip day) combination of one ranking. Day-part fit does not depend on the day, so it is
    worked out once per part; only the novelty lean changes from day to day."""
    norm = normalise(dict(base))
    out: dict[tuple[str, int], list[tuple[str, float]]] = {}
    for part in parts:
        fitting = []
        for vid, s in norm.items():
            c = pool.get(vid)
            if c is None:
                continue
            fit = day_part_fit(c.category, c.tags, part)
            if fit >= MIN_FIT:
                fitting.append((vid, s * fit, 1.0 - c.quality))
        for day in days:
            lean = NOVELTY_WEIGHT * min(1.0, (day - 1) / 4.0)
            ranked = sorted(((vid, round(sf + lean * unknown, 5)) for vid, sf, unknown in fitting), key=lambda x: -x[1])
            out[(part, day)] = ranked[:size]
    return out


def derive_combo(base: list[tuple[str, float]], pool: dict[str, Candidate], day_part: str, day_of_trip: int,
                 size: int = COMBO_SIZE) -> list[tuple[str, float]]:
    return derive_combos(base, pool, [day_part], [day_of_trip], size)[(day_part, day_of_trip)]


def tag_scores(terms: tuple[str, ...], keywords: tuple[str, ...], pool: dict[str, Candidate]) -> dict[str, float]:
    """TAG_WEIGHT · (taxonomy tags shared, saturating at 2) + TEXT_WEIGHT · (a keyword such as "ramen" in the
    venue's name or description)."""
    wanted = set(terms)
    kws = [k.lower() for k in keywords]
    out = {}
    for vid, c in pool.items():
        score = TAG_WEIGHT * min(1.0, len(wanted.intersection(c.tags)) / 2.0) if wanted else 0.0
        if kws:
            text = c.extra.get("text") or c.name.lower()
            if any(k in text for k in kws):
                score += TEXT_WEIGHT
        out[vid] = score
    return out


def vector_scores(user_vector: np.ndarray | None, pool: dict[str, Candidate]) -> dict[str, float]:
    """VECTOR_WEIGHT · cosine(user tower, item vector), clipped at 0; venues without a vector score 0."""
    out = dict.fromkeys(pool, 0.0)
    if user_vector is None:
        return out
    n = float(np.linalg.norm(user_vector))
    with_vec = [vid for vid, c in pool.items() if c.vector is not None]
    if n == 0 or not with_vec:
        return out
    mat = np.stack([pool[vid].vector for vid in with_vec]).astype(np.float32)
    norms = np.linalg.norm(mat, axis=1)
    cos = (mat @ (np.asarray(user_vector, dtype=np.float32) / n)) / np.where(norms == 0, 1.0, norms)
    out.update(zip(with_vec, (VECTOR_WEIGHT * np.clip(cos, 0.0, None)).tolist()))
    return out


def personal_by_part(tags: Tags, user_vector: np.ndarray | None,
                     pool: dict[str, Candidate]) -> Callable[[str], dict[str, float]]:
    """The personal term per day part: a tag only counts in the day parts it is about (tags.TAG_PARTS), so
    a coffee lover's mornings go to coffee and their dinners to what else they like. The vector term is
    the same all day and computed once."""
    vec = vector_scores(user_vector, pool)
    by_part: dict[str, dict[str, float]] = {}

    def for_part(part: str) -> dict[str, float]:
        if part not in by_part:
            tag = tag_scores(tags.vibe_terms(part), tags.keywords(part), pool)
            by_part[part] = {vid: s + vec[vid] for vid, s in tag.items()}
        return by_part[part]

    return for_part


def combine(combo: list[tuple[str, float]], personal: dict[str, float]) -> dict[str, float]:
    return {vid: s + personal.get(vid, 0.0) for vid, s in combo}

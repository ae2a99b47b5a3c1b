"""Group trips: one itinerary that represents every member, not only the dominant taste.

Each member's relevance (their archetype's cached combination list plus their personal term) is
min-max normalised per member, so a member with extreme scores cannot drown the others. A slot's
score is
    0.6 · Σ_m w_m · r_m(v)  +  0.4 · min_m r_m(v)
where the second term is least misery (nobody hates it) and the weights w_m are a fairness term: a
softmax over how little each member has been served so far, so after two food stops the outdoors fan's
favourites gain weight. Each slot records whose preferences it serves (r_m(v) ≥ SERVES_AT, or the
member it scores best for).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shared.domains.travel.trips.scoring import normalise
from shared.engine.serving.types import Candidate

SERVES_AT = 0.6
FAIRNESS_TEMPERATURE = 2.0
MEAN_WEIGHT, MISERY_WEIGHT = 0.6, 0.4


@dataclass
class Member:
    user_id: str
    relevance: Callable[[int, str], dict[str, float]]


class GroupScorer:
    def __init__(self, members: list[Member]):
        if not members:
            raise ValueError("a group needs at least one member")
        self.members = members
        self.satisfaction = np.zeros(len(members))
        self._last: dict[tuple[int, str], list[dict[str, float]]] = {}

    def weights(self) -> np.ndarray:
        deficit = self.satisfaction.mean() - self.satisfaction
        w = np.exp(FAIRNESS_TEMPERATURE * deficit)
        return w / w.sum()

    def per_member(self, day: int, part: str) -> list[dict[str, float]]:
        key = (day, part)
        if key not in self._last:
            self._last[key] = [normalise(m.relevance(day, part)) for m in self.members]
        return self._last[key]

    def relevance(self, day: int, part: str) -> dict[str, float]:
        rs = self.per_member(day, part)
        ids = set().union(*rs)
        w = self.weights()
        out = {}
        for vid in ids:
            vals = np.array([r.get(vid, 0.0) for r in rs])
            out[vid] = float(MEAN_WEIGHT * (w * vals).sum() + MISERY_WEIGHT * vals.min())
        return out

    def on_pick(self, day: int, part: str, venue: Candidate) -> list[str]:
        rs = self.per_member(day, part)
        vals = np.array([r.get(venue.id, 0.0) for r in rs])
        self.satisfaction += vals
        serves = [m.user_id for m, v in zip(self.members, vals) if v >= SERVES_AT]
        return serves or [self.members[int(vals.argmax())].user_id]

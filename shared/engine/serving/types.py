"""The vocabulary every online ranker speaks.

Candidates arrive from retrieval already carrying what any ranker needs (tags, a vibe vector, quality
features), so a ranker never reaches back into a store: that keeps ranking pure, cacheable and cheap
to fall back from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass
class Candidate:
    id: str
    name: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    vector: np.ndarray | None = None          # item-tower (vibe) embedding
    retrieval_score: float = 0.0               # similarity from ANN, higher is better
    quality: float = 0.5                       # 0..1, catalogue quality signal
    overrated: bool = False
    price_level: int | None = None
    lat: float | None = None
    lon: float | None = None
    hours: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RankingContext:
    """Who is asking and when. `persona_text` is the compressed persona an LLM sees; `tags` the
    preference terms a heuristic can match; `user_vector` the user tower output in item space."""
    user_id: str
    signal_count: int
    persona_text: str = ""
    tags: tuple[str, ...] = ()
    user_vector: np.ndarray | None = None
    day_part: str | None = None
    day_of_trip: int | None = None
    group_size: int = 1
    history_popularity: float | None = None       # mean popularity (0..1) of what the user accepted so far
    recent_categories: tuple[str, ...] = ()       # categories of the user's latest accepts, oldest first


@dataclass(frozen=True)
class RankedItem:
    id: str
    score: float
    confidence: float


@dataclass
class RankResult:
    items: list[RankedItem]
    ranker: str                 # which ranker produced the final order
    model_version: str          # what goes into X-Model-Version and the candidate-set log
    served_by: str              # human-readable: "llm", "heuristic", "ml"
    fallback_reason: str | None = None
    latency_ms: float = 0.0
    arbitration: dict | None = None   # warm users: which ranking won and why (serving.arbitration.Decision)

    def scores(self) -> dict[str, float]:
        return {item.id: item.score for item in self.items}


class RankerError(RuntimeError):
    """A ranker could not produce a valid ranking; the router falls back. `kind` is why, for the fallback reason:
    "invalid" (output failed validation), "error" (the service answered with an error or could not be reached) or
    "timeout" (it did not answer in time)."""

    def __init__(self, message: str, kind: str = "invalid"):
        super().__init__(message)
        self.kind = kind


class OnlineRanker(Protocol):
    name: str
    version: str

    def rank(self, ctx: RankingContext, candidates: list[Candidate]) -> list[RankedItem]:
        """Return every candidate exactly once, best first. Raise RankerError on invalid output."""
        ...

"""Which of two rankings serves a warm user: the learned model's (ML) or the cold-start ranker's (the LLM, or
the heuristic without one). Both have scored the same candidates; this only decides, and says why.

Rules, in the order they are applied (the seed's arbitration, as one pure function):
1. a cold user (fewer than COLD_THRESHOLD signals) is never served by ML                → other, "cold_user"
2. the two top-k lists agree (overlap at least AGREEMENT)                                → ml, "agreement"
   otherwise they disagree, and:
3. the other ranker's top-k is much more popular than what the user has chosen so far
   (popularity bias: mean popularity higher by POPULARITY_BIAS or more)                  → ml, "popularity_bias"
4. the user's recent accepts point one way (one category holds MOMENTUM of them) and
   ML's top-k follows it more closely than the other's                                  → ml, "sequence_momentum"
5. the other ranker is confident (mean top-k confidence at least CONFIDENT) and ML is
   not (at most UNSURE)                                                                 → other, "other_confident"
6. none of the above: the learned model, trained on this user's behaviour               → ml, "warm_default"
Rules 3 and 4 rest on the user's own behaviour, so they outrank rule 5, a ranker's opinion of itself.
Missing evidence (no popularity on the candidates, no recent accepts) means the rule does not apply.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from shared.engine.events.schema import WARM_THRESHOLD as COLD_THRESHOLD
from shared.engine.serving.types import Candidate, RankedItem, RankingContext

TOP_K = 5
AGREEMENT = 0.6
POPULARITY_BIAS = 0.25
MOMENTUM = 0.6
CONFIDENT = 0.8
UNSURE = 0.4


@dataclass(frozen=True)
class Decision:
    winner: str            # "ml" or "other"
    reason: str
    agreement: float       # top-k overlap, 0..1
    evidence: dict         # the figures the rules looked at, for the candidate-set log


def _top(items: list[RankedItem], k: int) -> list[RankedItem]:
    return sorted(items, key=lambda i: -i.score)[:k]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def arbitrate(ml: list[RankedItem], other: list[RankedItem], candidates: dict[str, Candidate],
              ctx: RankingContext, k: int = TOP_K) -> Decision:
    ml_top, other_top = _top(ml, k), _top(other, k)
    ml_ids, other_ids = [i.id for i in ml_top], [i.id for i in other_top]
    agreement = len(set(ml_ids) & set(other_ids)) / max(1, min(k, len(ml_ids)))
    ev = {"agreement": round(agreement, 3), "ml_confidence": _mean([i.confidence for i in ml_top]),
          "other_confidence": _mean([i.confidence for i in other_top])}

    def decide(winner: str, reason: str) -> Decision:
        return Decision(winner, reason, agreement, {k: (round(v, 3) if isinstance(v, float) else v)
                                                    for k, v in ev.items()})

    if ctx.signal_count < COLD_THRESHOLD:
        return decide("other", "cold_user")
    if agreement >= AGREEMENT:
        return decide("ml", "agreement")
    popularity = [candidates[i].extra.get("popularity") for i in other_ids if i in candidates]
    other_popularity = _mean([p for p in popularity if p is not None])
    ev["other_top_popularity"], ev["history_popularity"] = other_popularity, ctx.history_popularity
    if other_popularity is not None and ctx.history_popularity is not None \
            and other_popularity - ctx.history_popularity >= POPULARITY_BIAS:
        return decide("ml", "popularity_bias")
    if ctx.recent_categories:
        category, n = Counter(ctx.recent_categories).most_common(1)[0]
        ev["momentum_category"], ev["momentum_share"] = category, n / len(ctx.recent_categories)
        if n / len(ctx.recent_categories) >= MOMENTUM:
            def follows(ids):
                return sum(candidates[i].category == category for i in ids if i in candidates)

            if follows(ml_ids) > follows(other_ids):
                return decide("ml", "sequence_momentum")
    if (ev["other_confidence"] or 0.0) >= CONFIDENT and (ev["ml_confidence"] or 0.0) <= UNSURE:
        return decide("other", "other_confident")
    return decide("ml", "warm_default")

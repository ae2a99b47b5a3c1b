"""The seed's arbitration rules, one test per rule, on hand-built rankings of the same ten candidates."""
from __future__ import annotations

import pytest

from shared.engine.serving.arbitration import arbitrate
from shared.engine.serving.types import Candidate, RankedItem, RankingContext

IDS = [f"v{i}" for i in range(10)]


def cands(popularity=None, categories=None) -> dict[str, Candidate]:
    return {vid: Candidate(id=vid, category=(categories or {}).get(vid, "sight"),
                           extra={} if popularity is None else {"popularity": popularity.get(vid, 0.1)})
            for vid in IDS}


def ranking(order: list[str], confidence: float = 0.5) -> list[RankedItem]:
    return [RankedItem(vid, float(len(order) - i), confidence) for i, vid in enumerate(order)]


ML = ranking(IDS)                                    # v0..v9
SAME = ranking(IDS[:4] + IDS[5:] + IDS[4:5])         # top 5 shares 4 with ML
OTHER = ranking(IDS[5:] + IDS[:5])                   # top 5 shares nothing with ML


def ctx(signals=60, **kw) -> RankingContext:
    return RankingContext(user_id="u", signal_count=signals, **kw)


def test_agreement_goes_to_ml():
    d = arbitrate(ML, SAME, cands(), ctx())
    assert (d.winner, d.reason) == ("ml", "agreement") and d.agreement == 0.8


def test_a_cold_user_never_gets_ml_even_when_they_agree():
    assert arbitrate(ML, SAME, cands(), ctx(signals=5)).reason == "cold_user"
    d = arbitrate(ML, OTHER, cands(), ctx(signals=19))
    assert (d.winner, d.reason) == ("other", "cold_user")


def test_disagreement_with_a_confident_other_and_an_unsure_ml_goes_to_the_other():
    d = arbitrate(ranking(IDS, 0.2), ranking(IDS[5:] + IDS[:5], 0.9), cands(), ctx())
    assert (d.winner, d.reason) == ("other", "other_confident")
    assert d.evidence["ml_confidence"] == 0.2 and d.evidence["other_confidence"] == 0.9


def test_popularity_bias_goes_to_ml_even_over_a_confident_other():
    popular = {vid: 0.9 for vid in IDS[5:]}          # the other's top 5 are the city's most popular
    d = arbitrate(ranking(IDS, 0.2), ranking(IDS[5:] + IDS[:5], 0.9), cands(popular), ctx(history_popularity=0.3))
    assert (d.winner, d.reason) == ("ml", "popularity_bias")
    assert d.evidence["other_top_popularity"] == 0.9 and d.evidence["history_popularity"] == 0.3


def test_no_bias_when_the_user_likes_popular_places_too():
    popular = {vid: 0.9 for vid in IDS[5:]}
    d = arbitrate(ranking(IDS, 0.2), ranking(IDS[5:] + IDS[:5], 0.9), cands(popular), ctx(history_popularity=0.8))
    assert d.reason == "other_confident"


def test_sequence_momentum_goes_to_ml():
    categories = {vid: "food" for vid in IDS[:5]}   # ML's top 5 are food, the other's are sights
    recent = ("food", "food", "sight", "food", "food")
    d = arbitrate(ranking(IDS, 0.2), ranking(IDS[5:] + IDS[:5], 0.9), cands(categories=categories),
                  ctx(recent_categories=recent))
    assert (d.winner, d.reason) == ("ml", "sequence_momentum") and d.evidence["momentum_share"] == 0.8


def test_momentum_needs_ml_to_follow_it():
    categories = {vid: "food" for vid in IDS[5:]}   # the other ranker follows the momentum, ML does not
    d = arbitrate(ML, OTHER, cands(categories=categories), ctx(recent_categories=("food",) * 4))
    assert d.reason == "warm_default"


@pytest.mark.parametrize("missing", [{}, {"history_popularity": 0.1}, {"recent_categories": ()}])
def test_without_evidence_a_warm_disagreement_goes_to_the_learned_model(missing):
    d = arbitrate(ML, OTHER, cands(), ctx(**missing))
    assert (d.winner, d.reason) == ("ml", "warm_default") and d.agreement == 0.0

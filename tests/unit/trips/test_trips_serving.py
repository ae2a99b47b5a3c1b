import time

import numpy as np
import pytest

from shared.engine.serving.cache import KEY_VERSION, all_combinations, base_key, clamp_day, ranked_key
from shared.engine.serving.heuristic import HeuristicRanker
from shared.engine.serving.llm import LLMRanker, validate_ranking
from shared.engine.serving.mmr import mmr_select
from shared.engine.serving.router import RankerRouter, is_cold
from shared.engine.serving.types import RankedItem, RankerError, RankingContext

from tests.unit.trips.trips_synthetic import make_venues


def ctx(signals=0, **kw):
    return RankingContext(user_id="u1", signal_count=signals, tags=("global-cuisine", "coffee"), **kw)


def test_heuristic_ranks_every_candidate_once_and_prefers_tag_matches():
    cands = list(make_venues(40).values())
    for c in cands:  # equal retrieval similarity: the tags must decide
        c.retrieval_score = 0.5
    items = HeuristicRanker().rank(ctx(), cands)
    assert sorted(i.id for i in items) == sorted(c.id for c in cands)
    by_id = {c.id: c for c in cands}
    top10 = [by_id[i.id] for i in items[:10]]
    assert sum(1 for c in top10 if {"global-cuisine", "coffee"} & set(c.tags)) >= 9
    assert all(0 <= i.confidence <= 1 for i in items)


class FakeLLM:
    name, version = "llm", "llm:fake"

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.calls = 0

    def rank(self, ctx, cands):
        self.calls += 1
        if self.behaviour == "ok":
            return [RankedItem(c.id, 1.0 - i / 100, 0.9) for i, c in enumerate(cands)]
        if self.behaviour == "raise":
            raise RankerError("bad tool output")
        if self.behaviour == "slow":
            time.sleep(0.5)
            return [RankedItem(c.id, 1.0, 0.9) for c in cands]
        if self.behaviour == "partial":
            return [RankedItem(c.id, 1.0, 0.9) for c in cands[:3]]


class FakeML(FakeLLM):
    name, version = "ml", "ml:als@abc"


@pytest.mark.parametrize("behaviour,reason", [("raise", "llm_invalid"), ("slow", "llm_timeout"), ("partial", "llm_invalid")])
def test_cold_user_llm_failures_fall_back_to_heuristic_inside_budget(behaviour, reason):
    cands = list(make_venues(30).values())
    calls = []
    router = RankerRouter(llm=FakeLLM(behaviour), llm_budget_s=0.2, on_call=calls.append)
    t0 = time.perf_counter()
    res = router.rank(ctx(), cands)
    assert time.perf_counter() - t0 < 0.45
    assert res.served_by == "heuristic" and res.fallback_reason.startswith(reason)
    assert len(res.items) == 30 and calls == ["llm", "heuristic"]


def test_cold_user_goes_to_llm_and_never_to_ml_even_when_a_model_exists():
    ml, llm = FakeML("ok"), FakeLLM("ok")
    res = RankerRouter(llm=llm, ml=ml).rank(ctx(signals=19), list(make_venues(20).values()))
    assert res.served_by == "llm" and ml.calls == 0 and llm.calls == 1


def test_no_key_means_heuristic_and_the_result_says_so():
    res = RankerRouter(llm=None).rank(ctx(), list(make_venues(10).values()))
    assert res.served_by == "heuristic" and res.model_version == "heuristic-v1"
    assert res.fallback_reason == "no_anthropic_key"


def test_budget_exhausted_skips_the_llm():
    llm = FakeLLM("ok")
    res = RankerRouter(llm=llm, llm_refusal="llm_budget_exhausted").rank(ctx(), list(make_venues(10).values()))
    assert llm.calls == 0 and res.fallback_reason == "llm_budget_exhausted"


def test_warm_user_is_arbitrated_between_ml_and_heuristic():
    ml = FakeML("ok")
    res = RankerRouter(llm=FakeLLM("ok"), ml=ml).rank(ctx(signals=60), list(make_venues(20).values()))
    assert ml.calls == 1 and res.arbitration is not None
    won = res.arbitration["winner"]
    assert (res.served_by, "ml:als@abc" in res.model_version) == (("ml", True) if won == "ml" else ("heuristic", False))
    assert is_cold(19) and not is_cold(20)


def test_warm_user_ml_failure_falls_back():
    res = RankerRouter(ml=FakeML("raise")).rank(ctx(signals=60), list(make_venues(20).values()))
    assert res.served_by == "heuristic" and res.fallback_reason.startswith("ml_error")


def test_llm_ranker_validates_tool_output_and_appends_the_rest():
    cands = list(make_venues(50).values())
    def good_call(**kw):
        lines = kw["prompt"].split("\n")
        ids = [l.split("|")[0] for l in lines if l.startswith("v")]
        assert len(ids) == 30 and kw["tool"]["name"] == "submit_ranking"
        return kw["validate"]({"ranking": [{"id": i, "confidence": 0.8} for i in ids[:25]]}), {"input_tokens": 10}
    items = LLMRanker(call=good_call, max_sent=30).rank(ctx(), cands)
    assert len(items) == 50 and len({i.id for i in items}) == 50
    assert items[0].score > items[25].score
    with pytest.raises(RankerError):
        validate_ranking({"ranking": [{"id": "nope", "confidence": 0.5}]}, ["v1"])
    with pytest.raises(RankerError):
        validate_ranking({"ranking": [{"id": "v1", "confidence": 1.5}]}, ["v1"])
    with pytest.raises(RankerError):
        validate_ranking({"ranking": [{"id": "v1", "confidence": 0.5}, {"id": "v1", "confidence": 0.5}]}, ["v1", "v2"])
    with pytest.raises(RankerError):
        LLMRanker(call=lambda **kw: (_ for _ in ()).throw(TimeoutError("x"))).rank(ctx(), cands)
    with pytest.raises(RankerError):  # the model names an id it was not offered
        LLMRanker(call=lambda **kw: (kw["validate"]({"ranking": [{"id": "zzz", "confidence": 1}]}), {})).rank(ctx(), cands)


def test_mmr_trades_relevance_for_diversity():
    pool = make_venues(40)
    # the 8 most relevant are all the same kind; MMR should not pick only those
    same = [c for c in pool.values() if c.category == "drink"]
    rel = {c.id: (1.0 if c in same else 0.6) for c in pool.values()}
    picked = mmr_select(list(pool.values()), rel, 4, lambda_=0.5)
    assert len({p.category for p in picked}) >= 2
    assert mmr_select(list(pool.values()), rel, 4, lambda_=1.0)[0].category == "drink"


def test_cache_keys_normalise_and_clamp():
    assert ranked_key("Seattle", "Foodie", "morning", 2) == f"rank:{KEY_VERSION}:seattle:foodie:morning:d2"
    assert ranked_key("seattle", "foodie", "evening", 9) == ranked_key("seattle", "foodie", "evening", 5)
    assert base_key("New York", "culture") == f"rank:{KEY_VERSION}:new-york:culture:base"
    with pytest.raises(ValueError):
        ranked_key("seattle", "foodie", "night", 1)
    with pytest.raises(ValueError):
        clamp_day(0)
    combos = all_combinations(["foodie", "outdoors", "culture"])
    assert len(combos) == 45 and len(set(combos)) == 45


def test_local_rankings_serve_only_the_base_redis_names():
    from shared.domains.travel.trips.ranking import LocalRankings, Ranking

    def ranking(base_id):
        return Ranking("c", "foodie", [], {}, {}, "heuristic", "heuristic-v1", "heuristic", None, False, 1, base_id)

    local = LocalRankings(size=2)
    local.put("k1", ranking("b1"))
    hit = local.get("k1", "b1")
    assert hit is not None and hit.cache_hit and hit.ranker_calls == 0
    assert local.get("k1", "b2") is None      # Redis re-ranked: the local copy is stale
    assert local.get("k1", None) is None      # Redis was emptied: nothing is served from memory
    local.put("k2", ranking("b2"))
    local.put("k3", ranking("b3"))            # over size: the least recently used (k1) goes
    assert local.get("k1", "b1") is None and local.get("k3", "b3") is not None

"""Which ranker serves a request, and what happens when it fails.

Rules (correctness, not preference):
- a cold user (fewer than COLD_THRESHOLD signals) never reaches an ML ranker;
- cold users go to the LLM ranker when one is configured (API key) and neither the day's LLM budget nor the
  user's share of it is spent (the reason names which);
  on error, timeout or invalid output the heuristic ranker answers inside the same latency budget;
- warm users go to the production ML ranker when one exists, arbitrated with the heuristic ranker: both
  score the same candidates and serving.arbitration decides which ranking serves (agreement, popularity
  bias, sequence momentum, confidence), with the reason on the result. If the ML ranker fails, the
  heuristic answers alone. Without a production model a warm user gets the heuristic, never the LLM.
Every result names the ranker, its model version and why a fallback happened, so responses can say so.
"""
from __future__ import annotations

import concurrent.futures as cf
import time
from collections.abc import Callable

import numpy as np

from shared.engine.serving.arbitration import arbitrate
from shared.engine.serving.heuristic import HeuristicRanker
from shared.engine.serving.types import (Candidate, OnlineRanker, RankedItem, RankerError, RankingContext,
                                         RankResult)

from shared.engine.events.schema import WARM_THRESHOLD as COLD_THRESHOLD  # one boundary, owned by events

_pool = cf.ThreadPoolExecutor(max_workers=4, thread_name_prefix="ranker")


def is_cold(signal_count: int) -> bool:
    return signal_count < COLD_THRESHOLD


def validate_full(items: list[RankedItem], candidates: list[Candidate]) -> None:
    ids = [i.id for i in items]
    if len(ids) != len(set(ids)):
        raise RankerError("ranking repeats an id")
    if set(ids) != {c.id for c in candidates}:
        raise RankerError("ranking does not cover exactly the candidates")
    if any(not np.isfinite(i.score) for i in items):
        raise RankerError("ranking has a non-finite score")


class RankerRouter:
    def __init__(
        self,
        heuristic: OnlineRanker | None = None,
        llm: OnlineRanker | None = None,
        ml: OnlineRanker | None = None,
        *,
        llm_budget_s: float = 4.0,
        llm_refusal: str | None = None,
        on_call: Callable[[str], None] | None = None,
    ):
        self.heuristic = heuristic or HeuristicRanker()
        self.llm = llm
        self.ml = ml
        self.llm_budget_s = llm_budget_s
        self.llm_refusal = llm_refusal   # why the LLM may not be called today (cost_guard.llm_refusal)
        self._on_call = on_call or (lambda name: None)
        self.calls: list[str] = []   # every ranker invocation made through this router, in order

    def _call(self, ranker: OnlineRanker, ctx: RankingContext, candidates: list[Candidate]) -> list[RankedItem]:
        self.calls.append(ranker.name)
        self._on_call(ranker.name)
        items = ranker.rank(ctx, candidates)
        validate_full(items, candidates)
        return items

    def _heuristic(self, ctx, candidates, t0, reason) -> RankResult:
        items = self._call(self.heuristic, ctx, candidates)
        return RankResult(items, self.heuristic.name, self.heuristic.version, "heuristic", reason,
                          (time.perf_counter() - t0) * 1000)

    def rank(self, ctx: RankingContext, candidates: list[Candidate]) -> RankResult:
        t0 = time.perf_counter()
        if not is_cold(ctx.signal_count) and self.ml is not None:
            return self._arbitrate(ctx, candidates, t0)
        if not is_cold(ctx.signal_count):  # warm, no production model yet: the LLM is for cold users only
            return self._heuristic(ctx, candidates, t0, "no_production_ml_model")
        if self.llm is None:
            return self._heuristic(ctx, candidates, t0, "no_anthropic_key")
        if self.llm_refusal:
            return self._heuristic(ctx, candidates, t0, self.llm_refusal)
        future = _pool.submit(self._call, self.llm, ctx, candidates)
        try:
            items = future.result(timeout=self.llm_budget_s)
        except cf.TimeoutError:
            future.cancel()
            return self._heuristic(ctx, candidates, t0, "llm_timeout")
        except RankerError as exc:
            return self._heuristic(ctx, candidates, t0, f"llm_{exc.kind}: {exc}"[:200])
        except Exception as exc:
            return self._heuristic(ctx, candidates, t0, f"llm_error: {type(exc).__name__}"[:200])
        return RankResult(items, self.llm.name, self.llm.version, "llm", None, (time.perf_counter() - t0) * 1000)

    def _arbitrate(self, ctx: RankingContext, candidates: list[Candidate], t0: float) -> RankResult:
        assert self.ml is not None and not is_cold(ctx.signal_count)
        try:
            ml_items = self._call(self.ml, ctx, candidates)
        except Exception as exc:
            return self._heuristic(ctx, candidates, t0, f"ml_error: {type(exc).__name__}: {exc}"[:200])
        h_items = self._call(self.heuristic, ctx, candidates)
        decision = arbitrate(ml_items, h_items, {c.id: c for c in candidates}, ctx)
        record = {"winner": "ml" if decision.winner == "ml" else self.heuristic.name, "reason": decision.reason,
                  **decision.evidence}
        elapsed = (time.perf_counter() - t0) * 1000
        if decision.winner == "ml":
            return RankResult(ml_items, "ml", self.ml.version, "ml", None, elapsed, record)
        return RankResult(h_items, self.heuristic.name, self.heuristic.version, "heuristic",
                          f"arbitration: {decision.reason}", elapsed, record)

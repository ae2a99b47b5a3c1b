"""The shadow gate: a model in shadow replaces what is served only when, on the live candidate sets it scored in
shadow, it ranks what users then accepted better than the served ranking did, beyond doubt.

- Evaluation set: the logged generations that carry this model's shadow scores (emit logs them aligned with the
  candidates), cut down to the items the user answered, with at least one accepted and one refused. Both rankings are evaluated on exactly these sets, so the
  comparison is paired (per user) and the gate's fingerprints match by construction.
- The served ranking is the logged candidate order (the order the serving ranker produced).
- Promotion needs at least `min_sets` such sets (a minimum shadow sample) and then the promotion gate's paired
  rule: the CI of the per-user difference (shadow minus served) on the gate metric lies above zero. HR@5, MRR and
  NDCG@10 are reported with their CIs and a paired test either way.
- A shadow that cannot win is retired rather than kept for ever, because while a model is in shadow no new
  candidate is trained: once it has RETIRE_AFTER times the minimum sample and still no win, it is retired (a fresh
  candidate trained on the grown data is the better use of the slot). It is not retired earlier on a losing CI:
  looking every night and stopping at the first bad interval would retire good models by chance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.engine.data.candidates import CandidateSets
from shared.engine.metrics.evaluate import Evaluation, evaluate_candidate_sets
from shared.engine.registry.gate import GateDecision, promotion_gate

MIN_SHADOW_SETS = 30
RETIRE_AFTER = 3  # multiples of the minimum shadow sample without a win
GATE_METRIC = "ndcg@10"
REPORTED = ("hr@5", "mrr@10", "ndcg@10")


class _Logged:
    """A ranker that replays scores logged with the set: the shadow's, or the served order."""

    def __init__(self, served_by: str, shadow: bool):
        self.served_by = served_by
        self._shadow = shadow

    def score(self, user, items, context=None) -> np.ndarray:
        if self._shadow:
            return np.asarray(context["shadow_scores"], dtype=np.float64)
        return -np.arange(len(items), dtype=np.float64)  # logged order: first is best


@dataclass
class ShadowResult:
    model: str
    sets: int
    decision: GateDecision | None
    shadow: Evaluation | None
    served: Evaluation | None
    comparison: dict | None
    reason: str
    min_sets: int = MIN_SHADOW_SETS

    @property
    def passed(self) -> bool:
        return bool(self.decision and self.decision.passed)

    @property
    def verdict(self) -> str:
        """promote, keep (too few sets, or undecided with room to grow) or retire (see the module docstring)."""
        if self.passed:
            return "promote"
        return "retire" if self.decision is not None and self.sets >= RETIRE_AFTER * self.min_sets else "keep"

    def to_dict(self) -> dict:
        def figures(e: Evaluation | None) -> dict | None:
            return None if e is None else {m: e.metrics[m].to_dict() for m in REPORTED if m in e.metrics}

        return {"model": self.model, "shadow_sets": self.sets, "min_shadow_sets": self.min_sets,
                "passed": self.passed, "verdict": self.verdict, "reason": self.reason, "shadow": figures(self.shadow),
                "served": figures(self.served), "paired": self.comparison,
                "gate": None if self.decision is None else self.decision.to_dict()}


def shadow_sets(sets: CandidateSets, model_version: str) -> CandidateSets:
    """The logged sets this model scored in shadow (its serving version, e.g. ml:bpr@abc), cut down to the items
    the user answered, with both a yes and a no among them (CandidateSets.answered)."""
    mine = tuple(s for s in sets.answered().sets if s.context.get("shadow_model_version") == model_version)
    return CandidateSets(name=f"{sets.name}/shadow:{model_version}", sets=mine, params={**sets.params,
                                                                                         "shadow": model_version})


def shadow_gate(sets: CandidateSets, model: str, model_version: str, reference_model: str,
                min_sets: int = MIN_SHADOW_SETS, metric: str = GATE_METRIC, seed: int = 0) -> ShadowResult:
    """`model`: name@version in the registry; `model_version`: the version its shadow scores were logged under;
    `reference_model`: what served those sets (the production model as name@version, else a label)."""
    mine = shadow_sets(sets, model_version)
    if len(mine) < min_sets:
        return ShadowResult(model, len(mine), None, None, None, None,
                            f"blocked: {len(mine)} shadow set(s) with an outcome, {min_sets} needed; keep it in shadow",
                            min_sets)
    ks = (5, 10)
    metrics = ("hr", "mrr", "ndcg")
    shadow = evaluate_candidate_sets(_Logged(model, True), mine, ks=ks, metrics=metrics, seed=seed)
    served = evaluate_candidate_sets(_Logged(reference_model, False), mine, ks=ks, metrics=metrics, seed=seed)
    paired = {m: shadow.compare(served, m, seed=seed).to_dict() for m in REPORTED}
    decision = promotion_gate(shadow.metrics[metric], served.metrics[metric], candidate_model=model,
                              reference_model=reference_model, candidate_eval_set=shadow.eval_set,
                              reference_eval_set=served.eval_set, paired=shadow.compare(served, metric, seed=seed))
    return ShadowResult(model, len(mine), decision, shadow, served, paired, decision.reason, min_sets)

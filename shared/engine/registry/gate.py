"""The promotion gate: a candidate replaces the reference (the production model, or a baseline when there is none)
only when it is better beyond doubt on the same evaluation set:

    candidate CI lower bound  >  reference CI upper bound   (same metric, same confidence, same eval set)

This is deliberately stricter than "the mean is higher" or even a paired test: non-overlapping intervals mean the
gain would survive the evaluation noise of either model, which is what a production switch should require.
All metrics gated on are higher-is-better (HR, NDCG, MAP, precision, recall, MRR).
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.engine.metrics.stats import MetricCI


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    metric: str
    candidate_model: str
    reference_model: str
    candidate: MetricCI
    reference: MetricCI
    eval_set: str | None
    reason: str

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "metric": self.metric,
            "candidate_model": self.candidate_model,
            "reference_model": self.reference_model,
            "candidate": self.candidate.to_dict(),
            "reference": self.reference.to_dict(),
            "eval_set": self.eval_set,
            "reason": self.reason,
        }


def promotion_gate(
    candidate: MetricCI,
    reference: MetricCI,
    *,
    candidate_model: str = "candidate",
    reference_model: str = "reference",
    candidate_eval_set: str | None = None,
    reference_eval_set: str | None = None,
) -> GateDecision:
    def decide(passed: bool, reason: str) -> GateDecision:
        return GateDecision(
            passed, candidate.name, candidate_model, reference_model, candidate, reference, candidate_eval_set, reason
        )

    if candidate.name != reference.name:
        return decide(False, f"blocked: metrics differ ({candidate.name} vs {reference.name})")
    if candidate_eval_set != reference_eval_set:
        return decide(
            False, f"blocked: evaluated on different sets ({candidate_eval_set} vs {reference_eval_set}); "
            "evaluate both models on the same set"
        )
    if candidate.confidence != reference.confidence:
        return decide(False, f"blocked: confidence levels differ ({candidate.confidence} vs {reference.confidence})")
    if candidate.low > reference.high:
        return decide(
            True,
            f"passed: {candidate.name} CI lower bound {candidate.low:.4f} > {reference_model} CI upper bound "
            f"{reference.high:.4f}",
        )
    return decide(
        False,
        f"blocked: {candidate.name} CI lower bound {candidate.low:.4f} <= {reference_model} CI upper bound "
        f"{reference.high:.4f}",
    )

"""The promotion gate: a candidate replaces the reference (the production model, or a baseline when there is none)
only when it is better beyond doubt on the same evaluation set (same metric, same confidence, same eval set):

- paired (when the caller has both models' per-user values, as every job does): the bootstrap CI of the mean
  per-user difference, candidate minus reference, lies above zero. Both models are judged on the same users, so
  the user-to-user spread cancels out of the difference; this is the test that detects a real gain at the sample
  sizes a nightly run has (a hundred users) while still refusing one the noise could explain.
- unpaired (no per-user values): candidate CI lower bound > reference CI upper bound. Non-overlapping intervals
  are far stricter than a paired test (they need a gap of about 2.8 standard errors of either mean).

All metrics gated on are higher-is-better (HR, NDCG, MAP, precision, recall, MRR).
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.engine.metrics.stats import MetricCI, PairedComparison


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
    paired: PairedComparison | None = None,
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
    if paired is not None:
        if paired.n != candidate.n or paired.confidence != candidate.confidence:
            return decide(False, f"blocked: the paired comparison ({paired.n} users) is not over the evaluated users "
                                 f"({candidate.n}); compare the two evaluations of the same set")
        diff = f"{candidate.name} paired difference {paired.diff:+.4f} [{paired.diff_low:+.4f}, {paired.diff_high:+.4f}]"
        if paired.diff_low > 0:
            return decide(True, f"passed: {diff} over {paired.n} users vs {reference_model}: CI above zero")
        return decide(False, f"blocked: {diff} over {paired.n} users vs {reference_model}: CI not above zero")
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

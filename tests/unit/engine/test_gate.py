"""The promotion gate: on the same set, the paired difference CI above zero (or, unpaired, the candidate CI lower
bound above the reference CI upper bound)."""
from __future__ import annotations

from shared.engine.metrics.stats import MetricCI
from shared.engine.registry.gate import promotion_gate

CANDIDATE = MetricCI("hr@5", mean=0.75, low=0.71, high=0.79, n=400)
BASELINE = MetricCI("hr@5", mean=0.64, low=0.60, high=0.68, n=400)


def test_candidate_lower_bound_above_baseline_upper_bound_passes():
    d = promotion_gate(CANDIDATE, BASELINE, candidate_model="bpr@v2", reference_model="llm@v1",
                       candidate_eval_set="s1", reference_eval_set="s1")
    assert d.passed
    assert "0.7100 > " in d.reason and "0.6800" in d.reason


def test_flipped_it_blocks():
    d = promotion_gate(BASELINE, CANDIDATE, candidate_eval_set="s1", reference_eval_set="s1")
    assert not d.passed and d.reason.startswith("blocked")


def test_overlapping_or_touching_intervals_block():
    touching = MetricCI("hr@5", mean=0.72, low=0.68, high=0.76, n=400)
    assert not promotion_gate(touching, BASELINE).passed
    overlapping = MetricCI("hr@5", mean=0.70, low=0.66, high=0.74, n=400)  # better mean, but not beyond doubt
    assert not promotion_gate(overlapping, BASELINE).passed


def test_different_evaluation_sets_or_metrics_block():
    assert not promotion_gate(CANDIDATE, BASELINE, candidate_eval_set="a", reference_eval_set="b").passed
    other_metric = MetricCI("ndcg@10", 0.5, 0.4, 0.6, 400)
    assert not promotion_gate(CANDIDATE, other_metric).passed
    other_confidence = MetricCI("hr@5", 0.64, 0.60, 0.68, 400, confidence=0.9)
    assert not promotion_gate(CANDIDATE, other_confidence).passed


def test_decision_serialises_for_the_registry():
    d = promotion_gate(CANDIDATE, BASELINE, candidate_model="bpr@v2", reference_model="llm@v1")
    out = d.to_dict()
    assert out["passed"] is True and out["candidate"]["low"] == 0.71 and out["reference"]["high"] == 0.68


def test_paired_rule_passes_a_consistent_gain_the_unpaired_rule_would_miss():
    import numpy as np

    from shared.engine.metrics.stats import bootstrap_ci, paired_comparison

    rng = np.random.default_rng(0)
    reference = rng.uniform(0.5, 1.0, 90)  # a wide user-to-user spread ...
    candidate = np.clip(reference + rng.normal(0.03, 0.02, 90), 0, 1)  # ... and a small, steady gain
    cand_ci, ref_ci = bootstrap_ci(candidate, "ndcg@10"), bootstrap_ci(reference, "ndcg@10")
    assert cand_ci.low <= ref_ci.high  # overlapping intervals: the unpaired rule blocks
    assert not promotion_gate(cand_ci, ref_ci).passed
    paired = paired_comparison(candidate, reference, "ndcg@10")
    d = promotion_gate(cand_ci, ref_ci, paired=paired)
    assert d.passed and "paired difference" in d.reason and "CI above zero" in d.reason
    worse = paired_comparison(reference, candidate, "ndcg@10")
    assert not promotion_gate(ref_ci, cand_ci, paired=worse).passed


def test_a_noise_level_difference_does_not_pass_the_paired_rule():
    import numpy as np

    from shared.engine.metrics.stats import bootstrap_ci, paired_comparison

    rng = np.random.default_rng(1)
    reference = rng.uniform(0.5, 1.0, 90)
    candidate = np.clip(reference + rng.normal(0.0, 0.05, 90), 0, 1)  # same model, re-drawn noise
    d = promotion_gate(bootstrap_ci(candidate, "ndcg@10"), bootstrap_ci(reference, "ndcg@10"),
                       paired=paired_comparison(candidate, reference, "ndcg@10"))
    assert not d.passed and "CI not above zero" in d.reason


def test_a_paired_comparison_over_other_users_blocks():
    import numpy as np

    from shared.engine.metrics.stats import paired_comparison

    other = paired_comparison(np.ones(10), np.zeros(10), "hr@5")
    d = promotion_gate(CANDIDATE, BASELINE, paired=other)
    assert not d.passed and "not over the evaluated users" in d.reason

"""Offline metrics with confidence intervals: per-user vectors, bootstrap CIs, paired comparisons, and the
full-ranking and candidate-set evaluation drivers."""
from shared.engine.metrics.evaluate import Evaluation, evaluate_candidate_sets, evaluate_full_ranking
from shared.engine.metrics.ranking import RANKING_METRICS, coverage, hit_matrix, metrics_from_hits, novelty
from shared.engine.metrics.stats import MetricCI, PairedComparison, bootstrap_ci, paired_comparison

__all__ = [
    "Evaluation",
    "MetricCI",
    "PairedComparison",
    "RANKING_METRICS",
    "bootstrap_ci",
    "coverage",
    "evaluate_candidate_sets",
    "evaluate_full_ranking",
    "hit_matrix",
    "metrics_from_hits",
    "novelty",
    "paired_comparison",
]

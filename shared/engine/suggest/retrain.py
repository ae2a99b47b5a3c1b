"""Training, evaluation and the gate of a suggestion ranker, for jobs/suggest_retrain.

Data: the Open Bandit random (uniform) log, in time order: 70% train, 10% validation (LR's C, LightGBM's rounds),
20% test. Why this log and not only our own served events: our serving policy is deterministic (propensity 1), so
its log cannot evaluate a different ranker counterfactually; the uniform log can (every item had probability 1/80
in every slot). Served events are exported and counted by the job for the report; they join training once the
serving policy explores (a documented next step, not done here).

Evaluation, on the test part:
- offline: ROC AUC with a stratified bootstrap CI (metrics.auc_ci), for the candidate and the reference (the
  current production model of the same name, scored on the same rows, or the rule baseline when there is none);
- off-policy: the candidate's greedy policy (its best item per slot, each item once per list) valued by IPS, SNIPS
  and DR (ope.py) on the test rounds, with q_hat from a logistic regression fitted on train only.

Gate (both must hold; with a handful of test clicks the AUC intervals always overlap, so a "CI above the
reference" rule could never pass, and the gate says which looser rule it applied):
- AUC: the candidate's point estimate is at least the reference's;
- OPE: non-inferiority, the DR interval's upper bound is at least the logged (uniform) policy's click rate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.engine.metrics.stats import MetricCI
from shared.engine.suggest.bandit_data import BanditLog
from shared.engine.suggest.features import FeatureStats, training_features
from shared.engine.suggest.metrics import auc_ci
from shared.engine.suggest.ope import estimate_policy_value
from shared.engine.suggest.rankers import LightGBMRanker, LogisticRanker, RuleRanker
from shared.engine.suggest.reward_model import predict_all_slots
from sklearn.metrics import log_loss

LR_GRID = (0.01, 0.1, 1.0)
SPLIT = (0.7, 0.1, 0.2)


@dataclass
class Trained:
    kind: str
    ranker: object
    stats: FeatureStats
    validation: dict


def split(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = int(round(SPLIT[0] * n)), int(round((SPLIT[0] + SPLIT[1]) * n))
    return np.arange(a), np.arange(a, b), np.arange(b, n)


def train(log: BanditLog, kind: str) -> Trained:
    """Choose on validation, refit on train+validation (the bench's protocol, bench/suggest_bench.py)."""
    tr, va, _ = split(log.n_rounds)
    y = log.click
    stats = FeatureStats.from_log(log, tr)
    X_tr, X_va = training_features(log, tr, stats, ordered=True), training_features(log, va, stats)
    refit = np.r_[tr, va]
    fit_stats = FeatureStats.from_log(log, refit)
    X_fit = training_features(log, refit, fit_stats, ordered=True)
    if kind == "logistic":
        losses = {C: float(log_loss(y[va], LogisticRanker(C=C).fit(X_tr, y[tr]).predict_proba(X_va), labels=[0, 1]))
                  for C in LR_GRID}
        C = min(losses, key=losses.get)
        return Trained(kind, LogisticRanker(C=C).fit(X_fit, y[refit]), fit_stats,
                       {"C": C, "log_loss_by_C": {str(k): round(v, 6) for k, v in losses.items()}})
    if kind == "lightgbm":
        gbm = LightGBMRanker().fit(X_tr, y[tr], valid=(X_va, y[va]))
        rounds = max(1, gbm.best_iteration)
        return Trained(kind, LightGBMRanker(num_boost_round=rounds).fit(X_fit, y[refit]), fit_stats,
                       {"rounds": rounds})
    raise ValueError(f"unknown ranker kind {kind!r}")


def test_auc(log: BanditLog, ranker, stats: FeatureStats, name: str, resamples: int = 1000) -> MetricCI:
    _, _, te = split(log.n_rounds)
    return auc_ci(log.click[te], ranker.predict_proba(training_features(log, te, stats)), "auc", n_resamples=resamples)


def rule_baseline(log: BanditLog) -> tuple[RuleRanker, FeatureStats]:
    tr, va, _ = split(log.n_rounds)
    stats = FeatureStats.from_log(log, np.r_[tr, va])
    return RuleRanker.from_stats(stats), stats


def greedy_action_dist(scores: np.ndarray) -> np.ndarray:
    """[n, items, slots] one-hot: per round, slot k gets the best item at k not already placed above it."""
    n, a, slots = scores.shape
    dist = np.zeros_like(scores)
    taken = np.zeros((n, a), dtype=bool)
    rows = np.arange(n)
    for k in range(slots):
        s = np.where(taken, -np.inf, scores[:, :, k])
        best = s.argmax(axis=1)
        dist[rows, best, k] = 1.0
        taken[rows, best] = True
    return dist


def off_policy(log: BanditLog, ranker, stats: FeatureStats, resamples: int = 1000) -> dict:
    tr, va, te = split(log.n_rounds)
    dist = greedy_action_dist(predict_all_slots(ranker, log, te, stats))
    q_stats = FeatureStats.from_log(log, np.r_[tr, va])
    q_model = LogisticRanker(C=0.1).fit(training_features(log, np.r_[tr, va], q_stats, ordered=True),
                                        log.click[np.r_[tr, va]])
    q_hat = predict_all_slots(q_model, log, te, q_stats)
    est = estimate_policy_value(log.click[te], log.item[te], log.position[te], log.pscore[te], dist, q_hat,
                                n_resamples=resamples)
    return {"estimates": {k: v.to_dict() for k, v in est.items()},
            "logged_policy_value": round(float(log.click[te].mean()), 6), "rounds": len(te)}


def gate(candidate_auc: MetricCI, reference_auc: MetricCI, ope: dict) -> tuple[bool, str]:
    dr = ope["estimates"]["dr"]
    auc_ok = candidate_auc.mean >= reference_auc.mean
    ope_ok = dr["high"] >= ope["logged_policy_value"]
    reason = (f"AUC {candidate_auc.mean:.4f} vs reference {reference_auc.mean:.4f} "
              f"({'not below' if auc_ok else 'below'}); DR CTR [{dr['low']:.5f}, {dr['high']:.5f}] vs logged "
              f"{ope['logged_policy_value']:.5f} ({'non-inferior' if ope_ok else 'inferior'})")
    return auc_ok and ope_ok, ("passed: " if auc_ok and ope_ok else "blocked: ") + reason

"""Off-policy estimates of an evaluation policy's value (expected reward per impression) from logged feedback.

Definitions follow the Open Bandit Pipeline (obp.ope, Saito et al. 2021) for a list of `len_list` slots, where
each logged round is one impression: item a_i shown at position k_i with the logging policy's probability
pscore_i = pi_b(a_i | x_i, k_i), and the evaluation policy gives action_dist[i, a, k] = pi_e(a | x_i, k), a
distribution over items for every slot. With w_i = action_dist[i, a_i, k_i] / pscore_i:

    DM    = mean_i  sum_a pi_e(a | x_i, k_i) q_hat(x_i, a, k_i)
    IPS   = mean_i  w_i r_i                                          (OBP: IPW)
    SNIPS = sum_i w_i r_i / sum_i w_i                                 (OBP: SNIPW)
    DR    = mean_i [ sum_a pi_e(a | x_i, k_i) q_hat(x_i, a, k_i) + w_i (r_i - q_hat(x_i, a_i, k_i)) ]

The value is evaluated at the logged positions, so it is the policy's click rate over the same mix of slots the
log shows (OBD: a third each), which is what the on-policy ground truth (the mean click in the policy's own log)
measures.

95% intervals are percentile bootstraps over rounds (rounds are the i.i.d. unit), like OBP's
estimate_confidence_interval_by_bootstrap: DM, IPS and DR resample their per-round terms through
shared.engine.metrics.stats.bootstrap_ci; SNIPS, a ratio, resamples (w r, w) pairs and recomputes the ratio, so the
interval includes the normaliser's own noise. The reward model q_hat is held fixed: its fitting noise is not in
the DM and DR intervals (cross-fitting keeps it from biasing them).
"""
from __future__ import annotations

import numpy as np
from scipy import stats as sps

from shared.engine.metrics.stats import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, MetricCI, bootstrap_ci

ESTIMATORS = ("dm", "ips", "snips", "dr")


def _check(action: np.ndarray, position: np.ndarray, action_dist: np.ndarray, pscore: np.ndarray | None = None,
           reward: np.ndarray | None = None, q_hat: np.ndarray | None = None) -> None:
    n = len(action)
    if action_dist.ndim != 3 or action_dist.shape[0] != n:
        raise ValueError("action_dist must be [n_rounds, n_actions, len_list]")
    if len(position) != n or (reward is not None and len(reward) != n) or (pscore is not None and len(pscore) != n):
        raise ValueError("reward, action, position and pscore need one entry per round")
    if n == 0:
        raise ValueError("no logged rounds")
    _, n_actions, len_list = action_dist.shape
    if action.min() < 0 or action.max() >= n_actions or position.min() < 0 or position.max() >= len_list:
        raise ValueError("actions and positions must index action_dist")
    if (action_dist < 0).any() or not np.allclose(action_dist.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("action_dist must be a distribution over actions for every round and position")
    if pscore is not None and not (pscore > 0).all():
        raise ValueError("propensity scores must be positive: a zero one cannot be re-weighted")
    if q_hat is not None and q_hat.shape != action_dist.shape:
        raise ValueError("q_hat must have action_dist's shape")


def importance_weights(action: np.ndarray, position: np.ndarray, pscore: np.ndarray,
                       action_dist: np.ndarray) -> np.ndarray:
    """w_i = pi_e(a_i | x_i, k_i) / pi_b(a_i | x_i, k_i)."""
    _check(action, position, action_dist, pscore)
    return action_dist[np.arange(len(action)), action, position] / pscore


def effective_sample_size(w: np.ndarray) -> float:
    """(sum w)^2 / sum w^2: how many logged rounds the re-weighted estimate is worth."""
    sq = float(np.sum(w ** 2))
    return float(np.sum(w)) ** 2 / sq if sq > 0 else 0.0


def dm_rounds(position: np.ndarray, action_dist: np.ndarray, q_hat: np.ndarray) -> np.ndarray:
    idx = np.arange(len(position))
    return np.sum(action_dist[idx, :, position] * q_hat[idx, :, position], axis=1)


def ips_rounds(reward: np.ndarray, action: np.ndarray, position: np.ndarray, pscore: np.ndarray,
               action_dist: np.ndarray) -> np.ndarray:
    return importance_weights(action, position, pscore, action_dist) * reward


def dr_rounds(reward: np.ndarray, action: np.ndarray, position: np.ndarray, pscore: np.ndarray,
              action_dist: np.ndarray, q_hat: np.ndarray) -> np.ndarray:
    w = importance_weights(action, position, pscore, action_dist)
    q_logged = q_hat[np.arange(len(action)), action, position]
    return dm_rounds(position, action_dist, q_hat) + w * (reward - q_logged)


def snips_ci(weighted_reward: np.ndarray, w: np.ndarray, confidence: float = DEFAULT_CONFIDENCE,
             n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> MetricCI:
    """sum(w r) / sum(w), with a paired percentile bootstrap of the ratio over rounds."""
    if w.sum() <= 0:
        raise ValueError("SNIPS needs a logged round the evaluation policy could choose (all weights are zero)")
    value = float(weighted_reward.sum() / w.sum())
    if np.ptp(weighted_reward) == 0 and np.ptp(w) == 0:
        return MetricCI("snips", value, value, value, len(w), confidence)

    def ratio(num: np.ndarray, den: np.ndarray, axis: int = -1) -> np.ndarray:
        total = den.sum(axis=axis)
        return np.divide(num.sum(axis=axis), total, out=np.full(np.shape(total), value, dtype=float),
                         where=total > 0)

    res = sps.bootstrap((weighted_reward, w), ratio, paired=True, vectorized=True, confidence_level=confidence,
                        n_resamples=n_resamples, method="percentile",
                        batch=max(1, min(n_resamples, 20_000_000 // max(len(w), 1))),
                        rng=np.random.default_rng(seed))
    ci = res.confidence_interval
    return MetricCI("snips", value, float(ci.low), float(ci.high), len(w), confidence)


def estimate_policy_value(reward: np.ndarray, action: np.ndarray, position: np.ndarray, pscore: np.ndarray,
                          action_dist: np.ndarray, q_hat: np.ndarray | None = None,
                          confidence: float = DEFAULT_CONFIDENCE, n_resamples: int = DEFAULT_RESAMPLES,
                          seed: int = 0) -> dict[str, MetricCI]:
    """IPS and SNIPS always; DM and DR too when a reward model q_hat [n_rounds, n_actions, len_list] is given."""
    reward = np.asarray(reward, dtype=np.float64)
    action = np.asarray(action, dtype=np.int64)
    position = np.asarray(position, dtype=np.int64)
    pscore = np.asarray(pscore, dtype=np.float64)
    action_dist = np.asarray(action_dist, dtype=np.float64)
    _check(action, position, action_dist, pscore, reward, q_hat)
    w = importance_weights(action, position, pscore, action_dist)
    kw = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    out: dict[str, MetricCI] = {}
    if q_hat is not None:
        q_hat = np.asarray(q_hat, dtype=np.float64)
        out["dm"] = bootstrap_ci(dm_rounds(position, action_dist, q_hat), "dm", **kw)
    ips = ips_rounds(reward, action, position, pscore, action_dist)
    out["ips"] = bootstrap_ci(ips, "ips", **kw)
    out["snips"] = snips_ci(ips, w, **kw)
    if q_hat is not None:
        out["dr"] = bootstrap_ci(dr_rounds(reward, action, position, pscore, action_dist, q_hat), "dr", **kw)
    return {name: out[name] for name in ESTIMATORS if name in out}

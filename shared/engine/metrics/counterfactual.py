"""Off-policy estimates of a ranker's acceptance rate from logged decisions (Horvitz-Thompson style).

Each logged decision has the options the logging policy could pick, the exact probability it gave each one
(itinerary.decide: epsilon-greedy), the option it picked and whether the user accepted it. A target policy (here:
a ranker that would take its top-scored option) gives each option a probability too. Then

    IPS   = mean_i( r_i * pi_target(a_i) / pi_log(a_i) )
    SNIPS = sum_i( r_i * w_i ) / sum_i( w_i ),  w_i = pi_target(a_i) / pi_log(a_i)

IPS is unbiased when the logging policy gives every option the target may pick a non-zero probability; SNIPS
trades a little bias for much less variance. The effective sample size (sum w)^2 / sum w^2 says how many logged
decisions the estimate is really worth: with epsilon-greedy logs, only decisions where the target agrees with
the logged choice count, weighted by how unlikely that choice was. CIs are percentile bootstrap over users.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from shared.engine.data.signals import LoggedDecision

DEFAULT_RESAMPLES = 1000


def greedy_target(score: Callable[[str, list[str]], np.ndarray]) -> Callable[[LoggedDecision], np.ndarray]:
    """The policy that takes the option a ranker scores highest (ties: the first logged option)."""
    def probs(d: LoggedDecision) -> np.ndarray:
        s = np.asarray(score(d.user_id, list(d.options)), dtype=np.float64)
        p = np.zeros(len(d.options))
        p[int(np.argmax(s))] = 1.0
        return p
    return probs


def ranker_estimate(ranker, decisions: Sequence[LoggedDecision], **kwargs) -> dict:
    """IPS/SNIPS of the acceptance a ranker would get by taking its top-scored option at every logged stop."""
    return estimate(decisions, greedy_target(lambda user, options: ranker.score(user, options)), **kwargs)


def estimate(decisions: Sequence[LoggedDecision], target: Callable[[LoggedDecision], np.ndarray],
             n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0, confidence: float = 0.95) -> dict:
    if not decisions:
        return {"n": 0, "ips": None, "snips": None, "logged_acceptance": None}
    r = np.array([d.reward for d in decisions], dtype=np.float64)
    w = np.empty(len(decisions))
    for i, d in enumerate(decisions):
        k = d.options.index(d.chosen)
        logged = d.propensities[k]
        if logged <= 0:
            raise ValueError(f"a logged choice with propensity {logged}: the logs cannot be used for IPS")
        w[i] = target(d)[k] / logged
    by_user: dict[str, list[int]] = defaultdict(list)
    for i, d in enumerate(decisions):
        by_user[d.user_id].append(i)
    groups = [np.array(ix) for ix in by_user.values()]
    rng = np.random.default_rng(seed)
    ips_s, snips_s = [], []
    for _ in range(n_resamples):
        pick = np.concatenate([groups[j] for j in rng.integers(0, len(groups), len(groups))])
        ips_s.append(float(np.mean(r[pick] * w[pick])))
        snips_s.append(float(np.sum(r[pick] * w[pick]) / np.sum(w[pick])) if np.sum(w[pick]) > 0 else np.nan)
    lo, hi = 100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2

    def ci(point: float, samples: list[float]) -> dict | None:
        s = np.asarray(samples, dtype=np.float64)
        s = s[np.isfinite(s)]
        if not np.isfinite(point):
            return None
        return {"mean": round(point, 6), "low": round(float(np.percentile(s, lo)), 6) if s.size else None,
                "high": round(float(np.percentile(s, hi)), 6) if s.size else None}

    ips = float(np.mean(r * w))
    snips = float(np.sum(r * w) / np.sum(w)) if np.sum(w) > 0 else float("nan")
    return {"n": len(decisions), "users": len(groups), "ips": ci(ips, ips_s), "snips": ci(snips, snips_s),
            "effective_sample_size": round(float(np.sum(w) ** 2 / np.sum(w ** 2)), 1) if np.sum(w ** 2) > 0 else 0.0,
            "logged_acceptance": round(float(r.mean()), 6), "confidence": confidence}

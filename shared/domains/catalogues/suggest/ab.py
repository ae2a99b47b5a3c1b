"""A/B tests of suggestion rankers: deterministic assignment, per-arm rates with intervals, and a stopping rule that
stays valid however often the results are looked at.

Assignment: the first 8 bytes of SHA-256("<experiment>:<user_id>") as a number in [0, 1), mapped onto the arms'
cumulative weights. Deterministic (a user sees one arm across instances and restarts, with no table to keep),
independent across experiments (the experiment name salts the hash), and uniform (SHA-256 is as good a hash as any
for this; Python's hash() is salted per process and would not be stable).

Rates: CTR = clicks / impressions, acceptance = lists with at least one click / lists served, conversion =
conversions / impressions, each with a Wilson score interval (well behaved at the ~0.4% click rates of this data,
where the normal interval collapses or goes negative).

Stopping: the mixture sequential probability ratio test (mSPRT) of Johari, Koomen, Pekelis and Walsh, "Peeking at
A/B tests: why it matters, and what to do about it" (KDD 2017) and "Always valid inference" (Operations Research
2022), the rule behind Optimizely's stats engine. For the difference of two rates theta = p_B - p_A with its
estimate d and variance V (normal approximation), a N(0, tau^2) mixture over theta gives the likelihood ratio

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 d^2 / (2 V (V + tau^2)))

and p_n = min(p_{n-1}, 1 / Lambda_n) is an always-valid p-value: P(p_n <= alpha for some n) <= alpha under the
null, at every look. The test stops (a winner declared) the first time p_n <= alpha. tau, the scale of effects the
test is tuned for, is fixed before the test (the experiment's `mixing_sd` in suggest.yaml: about half the expected
click rate, a 50% relative lift): the guarantee holds for any fixed tau, tau only moves where the test has power.
(A tau re-estimated from the data as it comes in would void the guarantee.)
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scipy import stats as sps

from shared.domains.catalogues.suggest.config import Arm, Experiment


def bucket(experiment: str, user_id: str) -> float:
    """The user's position in [0, 1) for this experiment."""
    digest = hashlib.sha256(f"{experiment}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def assign(experiment: Experiment, user_id: str) -> Arm:
    """The user's arm: stable per (experiment, user), in the declared ratio over users."""
    u = bucket(experiment.name, user_id) * sum(a.weight for a in experiment.arms)
    acc = 0.0
    for arm in experiment.arms:
        acc += arm.weight
        if u < acc:
            return arm
    return experiment.arms[-1]


@dataclass(frozen=True)
class Rate:
    successes: int
    trials: int
    rate: float
    low: float
    high: float

    def to_dict(self) -> dict:
        return {"successes": self.successes, "trials": self.trials, "rate": round(self.rate, 6),
                "low": round(self.low, 6), "high": round(self.high, 6)}


def wilson(successes: int, trials: int, confidence: float = 0.95) -> Rate:
    """The Wilson score interval of a binomial rate (0 trials: the whole [0, 1])."""
    if trials <= 0:
        return Rate(successes, trials, 0.0, 0.0, 1.0)
    z = float(sps.norm.ppf(0.5 + confidence / 2))
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return Rate(successes, trials, p, max(0.0, centre - half), min(1.0, centre + half))


def msprt_lambda(c_a: int, n_a: int, c_b: int, n_b: int, tau: float) -> float:
    """The mixture likelihood ratio for p_B - p_A after n_a, n_b trials (1.0 while either arm has no data)."""
    if n_a <= 0 or n_b <= 0:
        return 1.0
    p_a, p_b = c_a / n_a, c_b / n_b
    pooled = (c_a + c_b) / (n_a + n_b)
    # the null's variance (pooled rate): defined even while one arm has no clicks yet
    var = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if var <= 0:
        return 1.0
    t2 = tau * tau
    d = p_b - p_a
    return math.sqrt(var / (var + t2)) * math.exp(t2 * d * d / (2 * var * (var + t2)))


@dataclass(frozen=True)
class SequentialResult:
    p_value: float            # always-valid p-value after the last look
    stopped: bool             # p_value <= alpha at some look
    stopped_at: int | None    # index of the first look where it stopped
    looks: int

    def to_dict(self) -> dict:
        return {"always_valid_p": round(self.p_value, 6), "stop": self.stopped, "stopped_at_look": self.stopped_at,
                "looks": self.looks}


def msprt(looks: Iterable[Sequence[int]], tau: float, alpha: float = 0.05) -> SequentialResult:
    """Run the test over cumulative looks (c_a, n_a, c_b, n_b), in time order."""
    p, stopped_at, n = 1.0, None, 0
    for n, (c_a, n_a, c_b, n_b) in enumerate(looks, start=1):
        lam = msprt_lambda(c_a, n_a, c_b, n_b, tau)
        p = min(p, 1.0 / lam if lam > 0 else 1.0)
        if stopped_at is None and p <= alpha:
            stopped_at = n - 1
    return SequentialResult(p, stopped_at is not None, stopped_at, n)

"""Off-policy estimators on a synthetic slate bandit whose target-policy value is known exactly."""
from __future__ import annotations

import numpy as np
import pytest

from shared.engine.suggest.ope import (
    dm_rounds,
    dr_rounds,
    effective_sample_size,
    estimate_policy_value,
    importance_weights,
    ips_rounds,
)

N_ACTIONS, LEN_LIST = 4, 2
THETA = np.array([[1.0, -0.5], [-0.8, 0.6], [0.3, 0.9], [-0.2, -1.0]])
BIAS = np.array([-1.0, -0.4, -1.5, 0.2])
SLOT_FACTOR = np.array([1.0, 0.6])      # the second slot is clicked less


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _world(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(q, pi_b, pi_e), each [n, n_actions, len_list]."""
    q = (1 / (1 + np.exp(-(x @ THETA.T + BIAS))))[:, :, None] * SLOT_FACTOR
    slot = np.array([0.0, 0.7])
    pi_b = _softmax(0.5 * (x @ THETA[:, ::-1].T)[:, :, None] + slot[None, None, :] * np.arange(N_ACTIONS)[:, None])
    pi_e = _softmax(2.0 * (x @ THETA.T + BIAS)[:, :, None] + np.zeros(LEN_LIST))   # prefers high-q actions
    return q, pi_b, pi_e


def _true_value() -> float:
    x = np.random.default_rng(12345).normal(size=(400_000, 2))
    q, _, pi_e = _world(x)
    return float((pi_e * q).sum(axis=1).mean())      # slots equally likely, as in the logs below


def _log(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    q, pi_b, pi_e = _world(x)
    position = rng.integers(0, LEN_LIST, n)
    probs = pi_b[np.arange(n), :, position]
    action = (probs.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
    reward = (rng.random(n) < q[np.arange(n), action, position]).astype(float)
    return {"reward": reward, "action": action, "position": position,
            "pscore": pi_b[np.arange(n), action, position], "pi_b": pi_b, "pi_e": pi_e, "q": q}


TRUE_VALUE = _true_value()


def test_ips_snips_and_dr_intervals_cover_the_true_value():
    d = _log(6000, seed=0)
    wrong_q = np.full_like(d["q"], d["reward"].mean())       # a poor reward model: DR must still be right
    est = estimate_policy_value(d["reward"], d["action"], d["position"], d["pscore"], d["pi_e"], wrong_q)
    for name in ("ips", "snips", "dr"):
        assert est[name].low <= TRUE_VALUE <= est[name].high, (name, est[name], TRUE_VALUE)
    # the problem can tell a right estimator from a wrong one: the logged mean is far outside those intervals
    half_width = (est["ips"].high - est["ips"].low) / 2
    assert abs(d["reward"].mean() - TRUE_VALUE) > 3 * half_width
    # and DM with that constant model is just the constant, far from the truth
    assert est["dm"].mean == pytest.approx(d["reward"].mean())


def test_dm_with_the_true_reward_function_is_right():
    d = _log(6000, seed=1)
    est = estimate_policy_value(d["reward"], d["action"], d["position"], d["pscore"], d["pi_e"], d["q"])
    assert est["dm"].mean == pytest.approx(TRUE_VALUE, abs=0.01)                 # ~4 standard errors
    logged_mean = d["reward"].mean()
    assert abs(logged_mean - TRUE_VALUE) > 0.03                                   # a tolerance that can fail


def test_dr_with_a_perfect_reward_model_has_lower_variance_than_ips():
    ips, dr = [], []
    for seed in range(40):
        d = _log(1500, seed=100 + seed)
        args = (d["reward"], d["action"], d["position"], d["pscore"], d["pi_e"])
        ips.append(ips_rounds(*args).mean())
        dr.append(dr_rounds(*args, d["q"]).mean())
    assert np.var(dr) < 0.5 * np.var(ips)
    assert abs(np.mean(dr) - TRUE_VALUE) < 3 * np.std(dr) / np.sqrt(len(dr))     # and it is unbiased
    d = _log(6000, seed=2)
    est = estimate_policy_value(d["reward"], d["action"], d["position"], d["pscore"], d["pi_e"], d["q"])
    assert est["dr"].high - est["dr"].low < est["ips"].high - est["ips"].low


def test_the_logging_policy_as_target_gives_the_mean_reward_exactly():
    d = _log(3000, seed=3)
    est = estimate_policy_value(d["reward"], d["action"], d["position"], d["pscore"], d["pi_b"])
    assert est["ips"].mean == d["reward"].mean()
    assert est["snips"].mean == pytest.approx(d["reward"].mean(), rel=1e-12)
    w = importance_weights(d["action"], d["position"], d["pscore"], d["pi_b"])
    assert effective_sample_size(w) == pytest.approx(3000)


def test_estimator_identities():
    d = _log(2000, seed=4)
    args = (d["reward"], d["action"], d["position"], d["pscore"], d["pi_e"])
    zero = np.zeros_like(d["q"])
    assert np.array_equal(dr_rounds(*args, zero), ips_rounds(*args))            # DR with q = 0 is IPS
    assert np.allclose(dm_rounds(d["position"], d["pi_e"], np.full_like(d["q"], 0.3)), 0.3)
    w = importance_weights(d["action"], d["position"], d["pscore"], d["pi_e"])
    est = estimate_policy_value(*args)
    assert est["snips"].mean == pytest.approx((w * d["reward"]).sum() / w.sum())
    assert set(est) == {"ips", "snips"}                                           # no q_hat: no DM/DR


def test_inputs_that_cannot_be_estimated_from_are_refused():
    d = _log(100, seed=5)
    bad_pscore = d["pscore"].copy()
    bad_pscore[0] = 0.0
    with pytest.raises(ValueError, match="positive"):
        estimate_policy_value(d["reward"], d["action"], d["position"], bad_pscore, d["pi_e"])
    with pytest.raises(ValueError, match="distribution"):
        estimate_policy_value(d["reward"], d["action"], d["position"], d["pscore"], d["pi_e"] * 2)
    with pytest.raises(ValueError, match="shape"):
        estimate_policy_value(d["reward"], d["action"], d["position"], d["pscore"], d["pi_e"], d["q"][:, :2])

"""A/B assignment (deterministic, in the declared ratio, independent across experiments) and the mSPRT stopping rule
(valid under continuous peeking where a naive z-test is not; it stops on a real difference)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from shared.domains.catalogues.suggest.ab import assign, bucket, msprt, wilson
from shared.domains.catalogues.suggest.config import Arm, Experiment, get_config, parse_config


def test_assignment_is_stable_and_follows_the_declared_weights():
    exp = Experiment("e1", (Arm("a", "m-a", 1), Arm("b", "m-b", 3)))
    users = [f"user-{i}" for i in range(20_000)]
    first = [assign(exp, u).name for u in users]
    assert first == [assign(exp, u).name for u in users]          # stable
    share_b = first.count("b") / len(users)
    # 3:1 declared; binomial sd at n=20k is 0.003, so 0.015 is 5 sd
    assert abs(share_b - 0.75) < 0.015


def test_experiments_are_independent():
    users = [f"u{i}" for i in range(20_000)]
    a = np.array([bucket("exp-1", u) < 0.5 for u in users])
    b = np.array([bucket("exp-2", u) < 0.5 for u in users])
    # the same user's arm in one experiment says nothing about the other: the 2x2 table is balanced
    both = (a & b).mean()
    assert abs(both - 0.25) < 0.015


def test_declared_experiments_load_and_every_surface_names_one():
    config = get_config()
    assert config.surfaces and all(s.experiment in config.experiments for s in config.surfaces.values())
    with pytest.raises(ValueError, match="unknown experiment"):
        parse_config({"experiments": [], "surfaces": [{"name": "x", "max_limit": 3, "slots": 3, "experiment": "no"}]})
    with pytest.raises(ValueError, match="positive weights"):
        parse_config({"experiments": [{"name": "e", "arms": [{"name": "a", "model": "m", "weight": 0}]}]})


def test_wilson_interval_contains_the_rate_and_is_bounded():
    r = wilson(4, 1000)
    assert 0 < r.low < 0.004 < r.high < 0.011
    assert wilson(0, 50).low == pytest.approx(0.0, abs=1e-12) and wilson(0, 0).high == 1.0


def _sim(p_a: float, p_b: float, n_looks: int, per_look: int, rng) -> list[tuple[int, int, int, int]]:
    ca = np.cumsum(rng.binomial(per_look, p_a, n_looks))
    cb = np.cumsum(rng.binomial(per_look, p_b, n_looks))
    n = per_look * np.arange(1, n_looks + 1)
    return list(zip(ca, n, cb, n))


def test_msprt_keeps_its_false_stop_rate_under_peeking_where_the_naive_test_does_not():
    rng = np.random.default_rng(0)
    sims, alpha, mixing = 300, 0.05, 0.01
    msprt_stops = naive_stops = 0
    for _ in range(sims):
        looks = _sim(0.05, 0.05, 50, 200, rng)            # A/A: no difference, 50 looks
        msprt_stops += msprt(looks, tau=mixing, alpha=alpha).stopped
        z_crit = sps.norm.ppf(1 - alpha / 2)
        for ca, na, cb, nb in looks:
            p = (ca + cb) / (na + nb)
            se = np.sqrt(p * (1 - p) * (1 / na + 1 / nb))
            if se > 0 and abs(cb / nb - ca / na) / se > z_crit:
                naive_stops += 1
                break
    assert msprt_stops / sims <= alpha + 0.02            # always valid (300 sims: sd about 0.013)
    assert naive_stops / sims > 2 * alpha                # peeking inflates the naive test's error


def test_msprt_stops_on_a_real_difference():
    rng = np.random.default_rng(1)
    result = msprt(_sim(0.05, 0.08, 50, 400, rng), tau=0.01)
    assert result.stopped and result.p_value <= 0.05 and result.stopped_at is not None


def test_msprt_p_value_never_increases():
    rng = np.random.default_rng(2)
    looks = _sim(0.05, 0.05, 30, 100, rng)
    ps = [msprt(looks[: k + 1], tau=0.01).p_value for k in range(len(looks))]
    assert all(b <= a + 1e-12 for a, b in zip(ps, ps[1:]))

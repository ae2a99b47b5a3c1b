"""IPS and SNIPS recover a target policy's acceptance from epsilon-greedy logs of another policy, and the
logged decisions are read back from the export with the user's answer as the reward."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np

from shared.engine.data.signals import LoggedDecision, logged_decisions
from shared.engine.events.export import rows_to_table
from shared.engine.metrics.counterfactual import estimate, greedy_target


def _logs(n: int, seed: int = 0) -> list[LoggedDecision]:
    """The logger prefers A (epsilon 0.5 over two options); users accept A 30% and B 70% of the time."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        chosen = "A" if rng.random() < 0.75 else "B"
        reward = int(rng.random() < (0.3 if chosen == "A" else 0.7))
        out.append(LoggedDecision(f"u{i % 200}", f"t{i}", ("A", "B"), (0.75, 0.25), chosen, reward, {}))
    return out


def test_ips_and_snips_estimate_the_policy_the_logs_did_not_follow():
    logs = _logs(6000)
    always_b = greedy_target(lambda user, options: np.array([0.0, 1.0]))
    got = estimate(logs, always_b, n_resamples=300)
    assert abs(got["ips"]["mean"] - 0.7) < 0.05 and abs(got["snips"]["mean"] - 0.7) < 0.03
    assert got["ips"]["low"] < 0.7 < got["ips"]["high"]
    assert abs(got["logged_acceptance"] - (0.75 * 0.3 + 0.25 * 0.7)) < 0.03
    same = estimate(logs, greedy_target(lambda user, options: np.array([1.0, 0.0])), n_resamples=300)
    assert abs(same["snips"]["mean"] - 0.3) < 0.03  # the logger's own greedy choice
    assert estimate([], always_b)["ips"] is None


def test_logged_decisions_take_the_users_answer_as_reward():
    t0 = datetime(2031, 6, 1, 9, tzinfo=timezone.utc)
    decisions = [{"slot_id": "s1", "options": ["v1", "v2"], "propensities": [0.95, 0.05], "chosen": "v1"},
                 {"slot_id": "s2", "options": ["v3", "v4"], "propensities": [0.95, 0.05], "chosen": "v4"},
                 {"slot_id": "s3", "options": ["v5"], "propensities": [1.0], "chosen": "v5"}]

    def row(n, kind, item=None, minutes=0, decisions=None):
        return {"event_id": f"e{n}", "user_id": "u1", "item_id": item, "signal_type": kind, "weight": 1.0,
                "created_at": t0 + timedelta(minutes=minutes), "trip_id": "t1", "model_version": "h",
                "time_to_action_ms": None, "day_part": None, "candidates": [],
                "decisions": json.dumps(decisions) if decisions else None}

    table = rows_to_table([row(0, "slot_accept", "v1", -5),  # before the trip was planned: not an answer
                           row(1, "candidate_set_logged", minutes=0, decisions=decisions),
                           row(2, "slot_accept", "v1", 1), row(3, "slot_skip", "v4", 2)])
    got = {d.chosen: d.reward for d in logged_decisions(table)}
    assert got == {"v1": 1, "v4": 0}  # v5 was never answered

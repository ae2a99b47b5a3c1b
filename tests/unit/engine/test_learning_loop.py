"""The learning loop's pure parts: the held-out split on our own signals, shadow scores travelling through the
export into logged candidate sets, the shadow gate, and shadow scoring that can never hurt a request."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from shared.engine.data.candidates import CandidateSet, CandidateSets
from shared.engine.data.signals import hold_out_last_generation, logged_candidate_sets
from shared.engine.events.export import rows_to_table
from shared.engine.registry.shadow_gate import shadow_gate, shadow_sets
from shared.engine.serving.shadow import in_sample, shadow_scores

T0 = datetime(2031, 6, 1, 9, 0, tzinfo=timezone.utc)
ITEMS = [f"v{i}" for i in range(12)]


def _row(n, user, kind, item=None, trip="t1", minutes=0, candidates=None, shadow=None):
    return {"event_id": f"e{n}", "user_id": user, "item_id": item, "signal_type": kind, "weight": 1.0,
            "created_at": T0 + timedelta(minutes=minutes), "trip_id": trip, "model_version": "heuristic-v1",
            "time_to_action_ms": 900, "day_part": None, "candidates": candidates or [],
            "shadow_model_version": None if shadow is None else shadow[0],
            "shadow_scores": None if shadow is None else shadow[1]}


def _trip_rows(start, user, trip, minute, accepted, skipped, shadow=None):
    rows = [_row(start, user, "candidate_set_logged", trip=trip, minutes=minute, candidates=ITEMS, shadow=shadow)]
    for i, item in enumerate(accepted):
        rows.append(_row(start + 1 + i, user, "slot_accept", item, trip, minute + 1, ITEMS))
    for i, item in enumerate(skipped):
        rows.append(_row(start + 50 + i, user, "slot_skip", item, trip, minute + 1, ITEMS))
    return rows


def test_each_users_last_answered_generation_is_held_out_and_training_stops_before_it():
    rows = (_trip_rows(0, "u1", "t0", 0, ["v7"], ["v8"]) + _trip_rows(20, "u1", "t1", 30, ["v1", "v2"], ["v3"])
            + _trip_rows(100, "u1", "t2", 60, ["v4"], [])
            + _trip_rows(200, "u2", "t3", 10, ["v1"], ["v5"]) + _trip_rows(300, "u2", "t4", 70, [], ["v6"]))
    train, held = hold_out_last_generation(rows_to_table(rows))
    # a last trip with only accepts (u1) or only skips (u2) cannot tell rankings apart: the one before is held out
    assert [(s.user_id, s.context["trip_id"], sorted(s.positives)) for s in held.sets] == [
        ("u1", "t1", ["v1", "v2"]), ("u2", "t3", ["v1"])]
    # judged on what the user answered only, in logged order
    assert [s.candidates for s in held.sets] == [("v1", "v2", "v3"), ("v1", "v5")]
    assert held.sets[0].negatives == frozenset({"v3"})
    kept = {(train.user_ids[u], train.item_ids[i]) for u, i in zip(train.users, train.items)}
    assert ("u1", "v7") in kept and ("u1", "v1") not in kept and ("u2", "v1") not in kept
    assert ("u1", "v4") not in kept and ("u2", "v6") not in kept  # nothing after the held-out generation's start


def test_answered_sets_keep_shadow_scores_aligned_with_their_items():
    scores = [float(i) for i in range(len(ITEMS))]
    table = rows_to_table(_trip_rows(0, "u1", "t1", 0, ["v5"], ["v2", "v9"], shadow=("ml:bpr@abc", scores)))
    (cs,) = logged_candidate_sets(table).answered().sets
    assert cs.candidates == ("v2", "v5", "v9") and cs.context["shadow_scores"] == [2.0, 5.0, 9.0]
    assert cs.positives == frozenset({"v5"}) and cs.negatives == frozenset({"v2", "v9"})


def test_shadow_scores_survive_the_export_aligned_with_the_candidates():
    scores = [float(len(ITEMS) - i) for i in range(len(ITEMS))]
    table = rows_to_table(_trip_rows(0, "u1", "t1", 0, ["v1"], [], shadow=("ml:bpr@abc", scores)))
    (cs,) = logged_candidate_sets(table).sets
    assert cs.context["shadow_model_version"] == "ml:bpr@abc" and cs.context["shadow_scores"] == scores
    assert cs.positives == frozenset({"v1"})


def _sets(n_users: int, shadow_better: bool, version="ml:bpr@abc") -> CandidateSets:
    """Served order is ITEMS; the user always takes v9. The shadow ranks v9 first (or last)."""
    out = []
    for u in range(n_users):
        scores = [0.0] * len(ITEMS)
        scores[9] = 5.0 if shadow_better else -5.0
        out.append(CandidateSet(f"u{u}", tuple(ITEMS), frozenset({"v9"}), key=f"g{u}",
                                context={"shadow_model_version": version, "shadow_scores": scores},
                                negatives=frozenset(ITEMS) - {"v9"}))
    out.append(CandidateSet("other", tuple(ITEMS), frozenset({"v9"}), key="x",
                            context={"shadow_model_version": "ml:als@zzz", "shadow_scores": [1.0] * len(ITEMS)},
                            negatives=frozenset(ITEMS) - {"v9"}))
    return CandidateSets("logged", tuple(out), {"source": "logged"})


def test_the_shadow_gate_promotes_only_a_clear_winner_on_enough_of_its_own_sets():
    assert len(shadow_sets(_sets(40, True), "ml:bpr@abc")) == 40
    win = shadow_gate(_sets(40, True), "bpr@abc", "ml:bpr@abc", "served:logged", min_sets=30)
    assert win.passed and win.to_dict()["shadow"]["hr@5"]["mean"] == 1.0 and win.to_dict()["served"]["hr@5"]["mean"] == 0
    assert win.comparison["ndcg@10"]["diff"] > 0
    lose = shadow_gate(_sets(40, False), "bpr@abc", "ml:bpr@abc", "served:logged", min_sets=30)
    assert not lose.passed and lose.reason.startswith("blocked")
    few = shadow_gate(_sets(10, True), "bpr@abc", "ml:bpr@abc", "served:logged", min_sets=30)
    assert not few.passed and few.decision is None and "10 shadow set(s)" in few.reason
    assert (win.verdict, lose.verdict, few.verdict) == ("promote", "keep", "keep")


def test_an_undecided_shadow_is_kept_until_it_has_had_three_times_the_minimum_sample():
    def tie(n):  # the shadow ranks exactly like the served order: no difference either way
        sets = _sets(n, True)
        same = [float(len(ITEMS) - i) for i in range(len(ITEMS))]
        return CandidateSets("logged", tuple(CandidateSet(s.user_id, s.candidates, s.positives, key=s.key,
                                                          context={**s.context, "shadow_scores": same},
                                                          negatives=s.negatives) for s in sets.sets), sets.params)

    assert shadow_gate(tie(40), "bpr@abc", "ml:bpr@abc", "served:logged", min_sets=30).verdict == "keep"
    assert shadow_gate(_sets(90, False), "bpr@abc", "ml:bpr@abc", "served:logged", min_sets=30).verdict == "retire"
    assert shadow_gate(tie(90), "bpr@abc", "ml:bpr@abc", "served:logged", min_sets=30).verdict == "retire"


class _Model:
    def __init__(self, scores=None, fail=False):
        self.scores, self.fail = scores, fail

    def score(self, user, items, context=None):
        if self.fail:
            raise RuntimeError("boom")
        return np.asarray(self.scores(items))


class _Ranker:
    version = "ml:bpr@abc"

    def __init__(self, model):
        self.model = model


def test_shadow_scoring_logs_finite_scores_or_nothing():
    got = shadow_scores(_Ranker(_Model(lambda items: [2.0, -1e30, 1.0])), "u", ["a", "b", "c"])
    assert got["model_version"] == "ml:bpr@abc" and got["known"] == 2
    assert got["scores"][1] < min(got["scores"][0], got["scores"][2])  # unknown: below every known item
    assert shadow_scores(_Ranker(_Model(fail=True)), "u", ["a"]) is None
    assert shadow_scores(_Ranker(_Model(lambda items: [-1e30] * len(items))), "u", ["a", "b"]) is None
    assert shadow_scores(_Ranker(_Model(lambda items: [1.0])), "u", ["a", "b"]) is None


@pytest.mark.parametrize("share, expected", [(0.0, 0), (1.0, 1000)])
def test_the_shadow_sample_is_a_stable_share(share, expected):
    assert sum(in_sample(f"trip-{i}", share) for i in range(1000)) == expected


def test_about_half_of_requests_are_sampled_at_half():
    picked = [in_sample(f"trip-{i}", 0.5) for i in range(2000)]
    assert 900 < sum(picked) < 1100 and picked == [in_sample(f"trip-{i}", 0.5) for i in range(2000)]


def test_the_ml_holdout_is_a_stable_share_of_users():
    from shared.engine.serving.experiments import ML_HOLDOUT, in_arm

    users = [f"user-{i}" for i in range(2000)]
    held = [in_arm(ML_HOLDOUT, u, 0.3) for u in users]
    assert 500 < sum(held) < 700 and held == [in_arm(ML_HOLDOUT, u, 0.3) for u in users]
    assert not any(in_arm(ML_HOLDOUT, u, 0.0) for u in users)
    assert in_arm("other-experiment", "user-1", 0.5) in (True, False)  # arms of experiments are independent

"""The learning loop over simulated days, with an A/B split: does what the loop learns make travellers accept more?

A stack of its own is started with ML_HOLDOUT_SHARE (default 0.5): that share of travellers, by a stable hash,
is the control arm, never served by an ML ranker; the rest is the treatment arm, served by whatever the loop
puts in production. Seattle is seeded from the repository's sources. Then, for each simulated day, every
traveller of a seeded cohort (emulators/travellers.py: hidden tastes, position bias) plans one two-day trip
through the gateway and accepts or skips its slots through POST /v1/signals; at the end of the day the nightly
learning job (jobs/learn) runs: export, shadow gate, training with held-out generations, personas.

Written to bench/results/learning_loop.json:
- per day and arm: acceptance (accepted / slots looked at), averaged over travellers with a 95% bootstrap CI
  over travellers, the models that served, and the difference treatment - control with its CI;
- each learn run's offline figures: held-out HR@5, MRR@10, NDCG@10 of the candidate and its reference with
  CIs and the gate's decision, and the shadow gate's figures on live shadow sets;
- whether the last day's treatment CI lies above the control CI (the issue's criterion).
- the counterfactual check: from the control arm's logged stop decisions (the planner's epsilon-greedy logging
  policy, EXPLORATION_SHARE), IPS and SNIPS estimates of the acceptance the production model's choices would get,
  next to the acceptance observed on the treatment arm's stops that the model served.

    .venv/bin/python bench/learning_loop.py [--days 7] [--travellers 90] [--holdout 0.5] [--seed 7]
                                            [--ranker bpr|tag_affinity] [--out learning_loop]

The simulator must never be used to tune hyper-parameters: it only shows the loop working end to end.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from _common import REPO_ROOT, lift_rate_limits, write_result

CITY = "Seattle"


def _ci(values: list[float], seed: int) -> dict:
    from shared.engine.metrics.stats import bootstrap_ci

    if not values:
        return {"mean": None, "low": None, "high": None, "n": 0}
    ci = bootstrap_ci(np.asarray(values, dtype=np.float64), "acceptance", seed=seed)
    return {"mean": round(ci.mean, 4), "low": round(ci.low, 4), "high": round(ci.high, 4), "n": ci.n}


def _diff_ci(a: list[float], b: list[float], seed: int, n: int = 2000) -> dict:
    """mean(a) - mean(b) for independent groups, percentile bootstrap resampling each group."""
    if not a or not b:
        return {"diff": None}
    rng = np.random.default_rng(seed)
    xa, xb = np.asarray(a), np.asarray(b)
    diffs = [rng.choice(xa, xa.size).mean() - rng.choice(xb, xb.size).mean() for _ in range(n)]
    return {"diff": round(float(xa.mean() - xb.mean()), 4), "low": round(float(np.percentile(diffs, 2.5)), 4),
            "high": round(float(np.percentile(diffs, 97.5)), 4)}


def _learn(env: dict, ranker: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "jobs.learn.main", "--through", datetime.now(UTC).date().isoformat(),
                           "--days", "1", "--extract-days", "1", "--ranker", ranker], env=env, capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"the learn job failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    from shared.adapters import storage

    report = json.loads(storage.read_bytes("reports", f"learn/{summary['run_id']}/report.json"))
    train = report["train"]
    return {"run_id": report["run_id"], "train": {k: train.get(k) for k in
                                                  ("action", "model", "reason", "held_out_sets", "candidate",
                                                   "reference")},
            "shadow": [{k: s.get(k) for k in ("model", "shadow_sets", "action", "reason", "shadow", "served")}
                       for s in report["shadow"]],
            "personas_updated": report["personas"]["updated"]}


def _wait_for_sink(dsn: str, expected_min: int, timeout_s: float = 120) -> None:
    import asyncio

    import asyncpg

    async def count():
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchval("SELECT count(*) FROM behavioral_signals WHERE signal_type IN "
                                       "('slot_accept', 'slot_skip')")
        finally:
            await conn.close()

    deadline = time.monotonic() + timeout_s
    while asyncio.run(count()) < expected_min:
        if time.monotonic() > deadline:
            raise RuntimeError("the signal sink fell behind: not every accepted signal was stored in time")
        time.sleep(1)
    time.sleep(2)  # the day's last candidate sets, scored in shadow on a background thread


def counterfactual_check(arm: dict[str, str]) -> dict:
    """IPS/SNIPS of the production model from control-arm logs, beside what the treatment arm observed."""
    import asyncio

    from shared.adapters.postgres import create_pool
    from shared.domains.travel.trips.rankers import ML_MODEL_NAMES
    from shared.engine.data.signals import logged_decisions, read_export
    from shared.engine.metrics.counterfactual import ranker_estimate
    from shared.engine.registry.artifacts import download_artifact
    from shared.engine.registry.store import first_with_status

    async def production():
        pool = await create_pool(min_size=1, max_size=1)
        try:
            return await first_with_status(pool, ML_MODEL_NAMES, "production")
        finally:
            await pool.close()

    rec = asyncio.run(production())
    if rec is None:
        return {"note": "no model reached production, so there is nothing to estimate"}
    model = download_artifact(rec.artifact_path)
    today = datetime.now(UTC).date()
    trained_us = int(rec.created_at.timestamp() * 1_000_000)
    decisions = [d for d in logged_decisions(read_export(today, today))  # only what the model never trained on
                 if d.context["created_at_us"] > trained_us]
    control = [d for d in decisions if arm.get(d.user_id) == "control"]
    served = [d for d in decisions if arm.get(d.user_id) == "treatment"
              and (d.context.get("model_version") or "") == f"ml:{rec.served_by}"]
    est = ranker_estimate(model, control)
    observed = _ci([float(d.reward) for d in served], 0) if served else None
    return {"model": rec.served_by,
            "estimated_from": "control-arm stop decisions logged after the model was trained (heuristic logging "
                              "policy, epsilon-greedy)",
            **est, "observed_treatment_acceptance": observed,
            "observed_on": f"{len(served)} answered treatment-arm stops served by {rec.served_by}"}


def _dump_signals(path: Path, arm: dict[str, str]) -> None:
    """The whole run's signal export, with each traveller's arm, so a model can be studied offline on exactly what
    the loop trained on (the simulated days all run, and are exported, on today's date)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from shared.engine.data.signals import read_export

    today = datetime.now(UTC).date()
    table = read_export(today, today)
    arms = pa.array([arm.get(u, "") for u in table.column("user_id").to_pylist()], pa.string())
    pq.write_table(table.append_column("arm", arms), path)
    print(f"signals: {table.num_rows} rows -> {path}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--travellers", type=int, default=90)
    ap.add_argument("--holdout", type=float, default=0.5, help="share of travellers in the control arm")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--ranker", default="bpr", help="what the learn job trains (bpr, tag_affinity or sasrec)")
    ap.add_argument("--out", default="learning_loop")
    ap.add_argument("--dump-signals", type=Path, default=None,
                    help="also write every exported signal to this Parquet file, to study the models offline")
    args = ap.parse_args(argv)
    if args.days < 1 or args.travellers < 10 or not 0 < args.holdout < 1:
        ap.error("--days >= 1, --travellers >= 10 and 0 < --holdout < 1")
    os.environ["ML_HOLDOUT_SHARE"] = str(args.holdout)  # the stack's functions inherit it
    from emulators.stack import Stack
    from emulators.travellers import Client, Stats, cohort, take_trip
    from shared.engine.serving.experiments import ML_HOLDOUT, in_arm

    started = time.monotonic()
    lift_rate_limits()
    stack = Stack(state_dir=Path(tempfile.mkdtemp(prefix="learning-loop-")), dynamic_ports=True, scheduler=False)
    stack.up()
    stack.export()
    env = stack._child_env()
    try:
        print(f"seeding {CITY} ...", flush=True)
        subprocess.run([sys.executable, "-m", "jobs.seed_city.main", "--city", CITY.lower()], env=env, cwd=REPO_ROOT,
                       check=True, capture_output=True)
        travellers = cohort(args.travellers, args.seed, prefix="bench")
        arm = {t.user_id: "control" if in_arm(ML_HOLDOUT, t.user_id, args.holdout) else "treatment"
               for t in travellers}
        rng = random.Random(args.seed)
        client = Client(stack.gateway_url)
        days, learns, actions = [], [], 0
        try:
            for d in range(args.days):
                per_user: dict[str, list[float]] = {"control": [], "treatment": []}
                served: dict[str, dict[str, int]] = {"control": {}, "treatment": {}}
                start = date(2031, 9, 1) + timedelta(days=7 * d)
                for t in travellers:
                    stats = Stats()
                    _trip, reactions = take_trip(client, t, CITY, start, rng, stats)
                    actions += stats.looked
                    if stats.looked:
                        per_user[arm[t.user_id]].append(stats.accepted / stats.looked)
                    for version in stats.by_model:
                        served[arm[t.user_id]][version] = served[arm[t.user_id]].get(version, 0) + 1
                day = {"day": d + 1, "control": _ci(per_user["control"], args.seed),
                       "treatment": _ci(per_user["treatment"], args.seed),
                       "treatment_minus_control": _diff_ci(per_user["treatment"], per_user["control"], args.seed),
                       "served_by": served}
                days.append(day)
                print(f"day {d + 1}: control {day['control']['mean']} [{day['control']['low']}, "
                      f"{day['control']['high']}], treatment {day['treatment']['mean']} [{day['treatment']['low']}, "
                      f"{day['treatment']['high']}]; served {served}", flush=True)
                _wait_for_sink(env["DATABASE_URL"], actions)
                learns.append({"after_day": d + 1, **_learn(env, args.ranker)})
                print(f"  learn: train {learns[-1]['train']['action']}; shadow "
                      f"{[s['action'] for s in learns[-1]['shadow']]}", flush=True)
            counterfactual = counterfactual_check(arm)
            if args.dump_signals:
                _dump_signals(args.dump_signals, arm)
        finally:
            client.close()
    finally:
        stack.down(quiet=True)
    last = days[-1]
    verdict = (last["treatment"]["low"] is not None and last["control"]["high"] is not None
               and last["treatment"]["low"] > last["control"]["high"])
    write_result(args.out, {
        "ranker": args.ranker, "travellers": args.travellers, "days": args.days, "holdout_share": args.holdout, "seed": args.seed,
        "arms": {a: sum(1 for v in arm.values() if v == a) for a in ("control", "treatment")},
        "per_day": days, "learn_runs": learns,
        "last_day_treatment_ci_above_control": verdict,
        "counterfactual": counterfactual,
        "seconds": round(time.monotonic() - started, 1),
        "how_measured": "acceptance = accepted / slots looked at, per traveller and day, averaged over the arm's "
                        "travellers; 95% percentile-bootstrap CIs over travellers (the independent unit).",
    })
    print(f"last day: treatment CI above control CI: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

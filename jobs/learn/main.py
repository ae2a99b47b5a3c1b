"""Cloud Run Job: the nightly learning loop, one step after another, each safe to repeat.

    python -m jobs.learn.main                        # nightly (Cloud Scheduler): the window ending yesterday
    python -m jobs.learn.main --through 2031-06-02   # by hand, e.g. through today

1. extract   re-export the last --extract-days days of behavioral_signals to the training-data bucket
             (jobs.nightly_extract; a re-run rewrites the same bytes).
2. shadow    a model in shadow is judged on the live candidate sets it scored (shared.engine.registry.shadow_gate):
             with at least MIN_SHADOW_SETS answered sets and a win beyond doubt over what was served, it is
             promoted to production; with no win after RETIRE_AFTER times that sample it is retired (so a fresh
             candidate can train); otherwise it stays in shadow.
3. train     when no model is in shadow and the window holds at least --min-signals accept/skip signals, and
             MIN_GROWTH more than the last trained model saw, train --ranker (jobs.train: the Vertex AI trainer,
             a local subprocess here) with each user's latest logged generation held out, then gate it on those
             held-out sets against the production model (else the popularity baseline fitted on the same rows):
             a pass moves it to shadow, a fail retires it.
4. personas  every warm traveller's persona vector is re-derived from their signals
             (shared.domains.travel.trips.persona_learning), in Postgres and in Qdrant.
5. report    JSON and markdown under the reports bucket (learn/<run>/), and each model's figures on its registry
             row, with each judged model's IPS/SNIPS estimate of acceptance from the logged stop decisions.
Exit 0 when every step ran (a blocked gate is a result, not a failure); 1 with the step named when one failed,
after which re-running the job is the fix.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta

from jobs.cli import iso_date

MIN_SIGNALS = 500   # accept/skip signals in the window before a model is worth training (the seed's figure)
MIN_GROWTH = 0.10   # and this much more than the last trained model saw
GATE_METRIC = "ndcg@10"
REPORTED = ("hr@5", "mrr@10", "ndcg@10")
ACTION_TYPES = ("slot_accept", "slot_skip")
# bpr (the seed's choice once 500+ accept/skip pairs exist) knows venues by id; tag_affinity learns tastes for tags
# from accepts and skips and can rank venues nobody took yet (bench/learning_loop.py --ranker tag_affinity).
# sasrec learns the order of a traveller's accepts (torch to fit; its ONNX graph travels in the artifact).
DEFAULT_PARAMS = {"tag_affinity": {"C": 1.0}, "bpr": {"factors": 32, "iterations": 200, "learning_rate": 0.05},
                  "sasrec": {}}


def _log(msg: str) -> None:
    print(f"learn: {msg}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m jobs.learn.main", description=__doc__.split("\n\n")[0])
    p.add_argument("--through", type=iso_date, default=None, help="last day of the window (default: yesterday)")
    p.add_argument("--days", type=int, default=28, help="length of the training window in days")
    p.add_argument("--extract-days", type=int, default=2, help="days re-exported before reading (ending --through)")
    p.add_argument("--ranker", default="bpr", choices=sorted(DEFAULT_PARAMS),
                   help="the ranker trained on our signals (one of the serving ML_MODEL_NAMES)")
    p.add_argument("--params", default=None, help="JSON hyper-parameters (default: DEFAULT_PARAMS[ranker])")
    p.add_argument("--min-signals", type=int, default=MIN_SIGNALS)
    p.add_argument("--min-shadow-sets", type=int, default=None, help="default: shadow_gate.MIN_SHADOW_SETS")
    args = p.parse_args(argv)
    args.params = args.params or json.dumps(DEFAULT_PARAMS[args.ranker])
    today = datetime.now(UTC).date()
    args.through = args.through or today - timedelta(days=1)
    if args.through > today:
        p.error(f"--through {args.through} is in the future")
    if args.days < 1 or args.extract_days < 0:
        p.error("--days must be >= 1 and --extract-days >= 0")
    return args


# --- 1. extract -----------------------------------------------------------------------------------------------------
def extract(through: date, days: int) -> list[dict]:
    from jobs.nightly_extract.main import run as export_day

    return [export_day(through - timedelta(days=i)) for i in reversed(range(days))]


# --- counterfactual --------------------------------------------------------------------------------------------------
def counterfactual(model, decisions) -> dict:
    """IPS/SNIPS estimate of the acceptance of the stops this model would have chosen (its top-scored option),
    from the logging policy's decisions (shared.engine.metrics.counterfactual)."""
    from shared.engine.metrics.counterfactual import ranker_estimate

    return ranker_estimate(model, decisions)


def _shadow_counterfactual(rec, decisions) -> dict:
    """The counterfactual figures of a model in shadow; its artifact being unreadable is reported, not fatal,
    since the shadow verdict itself needs only the scores logged with the candidate sets."""
    from shared.engine.registry.artifacts import download_artifact

    try:
        model = download_artifact(rec.artifact_path)
    except Exception as exc:
        return {"error": f"artifact {rec.artifact_path} unreadable ({type(exc).__name__}); re-register the model"}
    return counterfactual(model, decisions)


# --- 2. shadow ------------------------------------------------------------------------------------------------------
async def judge_shadows(pool, sets, min_sets: int, decisions) -> list[dict]:
    from shared.domains.travel.trips.rankers import ML_MODEL_NAMES
    from shared.engine.registry.shadow_gate import MIN_SHADOW_SETS, shadow_gate
    from shared.engine.registry.store import get_production, list_models, promote, record_evaluation, transition

    out = []
    # only the trip rankers score in shadow on planned trips (trips.rankers.shadow_ml); other names are not ours
    for rec in [r for r in await list_models(pool, statuses=("shadow",)) if r.model_name in ML_MODEL_NAMES]:
        production = await get_production(pool, rec.model_name)
        reference = production.served_by if production else "served:logged"
        result = shadow_gate(sets, rec.served_by, f"ml:{rec.served_by}", reference,
                             min_sets=min_sets or MIN_SHADOW_SETS)
        summary = {**result.to_dict(), "counterfactual": _shadow_counterfactual(rec, decisions)}
        action = "kept in shadow"
        if result.verdict == "promote":
            await promote(pool, rec.model_name, rec.version, result.decision)
            action = "promoted to production"
        elif result.verdict == "retire":
            await transition(pool, rec.model_name, rec.version, "retired")
            action = "retired (no win in shadow; a fresh candidate can train)"
        await record_evaluation(pool, rec.model_name, rec.version, f"shadow:{result.sets}", {"shadow": summary})
        _log(f"shadow {rec.served_by}: {result.reason} ({result.sets} sets) -> {action}")
        out.append({**summary, "action": action})
    return out


# --- 3. train and gate a candidate ----------------------------------------------------------------------------------
def _actions(table) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc

    return int(pc.sum(pc.is_in(table.column("signal_type"), value_set=pa.array(ACTION_TYPES))).as_py() or 0)


async def _last_trained_size(pool, name: str) -> int:
    from shared.engine.registry.store import list_models

    sizes = [int(((r.metrics.get("training") or {}).get("dataset") or {}).get("interactions") or 0)
             for r in await list_models(pool, name)]
    return max(sizes, default=0)


def _evaluate(ranker, held):
    from shared.engine.metrics.evaluate import evaluate_candidate_sets

    return evaluate_candidate_sets(ranker, held, ks=(5, 10), metrics=("hr", "mrr", "ndcg"))


async def train_and_gate(pool, args, table, window: str, decisions) -> dict:
    from jobs.train.main import parse_args as train_parse_args, train
    from shared.engine.data.signals import hold_out_last_generation
    from shared.engine.rankers import create_ranker
    from shared.engine.registry.artifacts import download_artifact
    from shared.engine.registry.gate import promotion_gate
    from shared.engine.registry.store import get_production, list_models, record_evaluation, transition

    if await list_models(pool, args.ranker, ("shadow",)):
        return {"action": "skipped", "reason": f"a {args.ranker} model is in shadow; it is judged first"}
    actions = _actions(table)
    if actions < args.min_signals:
        return {"action": "skipped", "reason": f"{actions} accept/skip signals in the window, {args.min_signals} "
                                               "needed before a model is trained"}
    train_rows, held = hold_out_last_generation(table)
    last = await _last_trained_size(pool, args.ranker)
    if last and len(train_rows) < last * (1 + MIN_GROWTH):
        return {"action": "skipped", "reason": f"{len(train_rows)} training rows, the last {args.ranker} saw {last}: "
                                               f"less than {MIN_GROWTH:.0%} growth"}
    if len(held) == 0:
        return {"action": "skipped", "reason": "no logged generation has an accepted item yet to judge a model on"}
    kinds = set(train_rows.context["signal_type"].tolist()) if len(train_rows.users) else set()
    if not set(ACTION_TYPES) <= kinds:
        # e.g. the first night: every traveller's only trip is the held-out one, so nothing is left to train on
        return {"action": "skipped", "reason": "the rows before each user's held-out generation lack accepts or "
                                               "skips to learn from; the next night's data will have them"}
    train_args = train_parse_args(["--ranker", args.ranker, "--signals", window, "--params", args.params,
                                   "--model-name", args.ranker, "--holdout", "last-generation"])
    record = await asyncio.get_running_loop().run_in_executor(None, train, train_args)
    if record.status != "candidate":
        return {"action": "skipped", "model": record.served_by,
                "reason": f"{record.served_by} (same code, params and data) is already {record.status}"}
    candidate = download_artifact(record.artifact_path)
    production = await get_production(pool, args.ranker)
    if production is not None:
        reference, ref_label = download_artifact(production.artifact_path), production.served_by
    else:
        reference = create_ranker("popularity").fit(train_rows)
        ref_label = f"baseline:{reference.served_by}"
    cand_e, ref_e = _evaluate(candidate, held), _evaluate(reference, held)
    decision = promotion_gate(cand_e.metrics[GATE_METRIC], ref_e.metrics[GATE_METRIC],
                              candidate_model=record.served_by, reference_model=ref_label,
                              candidate_eval_set=cand_e.eval_set, reference_eval_set=ref_e.eval_set,
                              paired=cand_e.compare(ref_e, GATE_METRIC))
    paired = {m: cand_e.compare(ref_e, m).to_dict() for m in REPORTED}
    summary = {"eval_set": cand_e.eval_set, "held_out_sets": len(held), "users": int(len(cand_e.users)),
               "candidate": {m: cand_e.metrics[m].to_dict() for m in REPORTED},
               "reference": {"model": ref_label, **{m: ref_e.metrics[m].to_dict() for m in REPORTED}},
               "paired": paired, "gate": decision.to_dict(),
               "counterfactual": {"candidate": counterfactual(candidate, decisions),
                                  "reference": counterfactual(reference, decisions)}}
    await record_evaluation(pool, record.model_name, record.version, cand_e.eval_set, {"held_out": summary})
    to = "shadow" if decision.passed else "retired"
    await transition(pool, record.model_name, record.version, to)
    _log(f"candidate {record.served_by} vs {ref_label} on {len(held)} held-out generations: {decision.reason} -> {to}")
    return {"action": f"moved to {to}", "model": record.served_by, **summary}


# --- 4. personas ----------------------------------------------------------------------------------------------------
async def refresh_personas(pool) -> dict:
    from shared.adapters.qdrant import get_qdrant
    from shared.domains.travel.trips.persona_learning import update_warm_personas
    from shared.domains.travel.trips.ranking import default_vibe_encoder

    async with pool.acquire() as conn:
        updates = await update_warm_personas(conn, get_qdrant(), default_vibe_encoder)
    moved = sorted(u.moved for u in updates)
    _log(f"personas: {len(updates)} warm traveller(s) updated"
         + (f", median move {moved[len(moved) // 2]:.4f} (cosine distance)" if moved else ""))
    return {"updated": len(updates), "median_move": moved[len(moved) // 2] if moved else None,
            "users": [u.__dict__ for u in updates[:50]]}


# --- 5. report ------------------------------------------------------------------------------------------------------
def to_markdown(report: dict) -> str:
    lines = [f"# Learning loop {report['run_id']}", "", f"- window: {report['window']}",
             f"- signals in window: {report['rows']} rows, {report['actions']} accept/skip", ""]
    for s in report["shadow"]:
        lines.append(f"- shadow `{s['model']}`: {s['shadow_sets']} sets; {s['reason']} -> **{s['action']}**")
        for side in ("shadow", "served"):
            if s.get(side):
                lines.append(f"  - {side}: " + ", ".join(f"{m} {v['mean']:.4f} [{v['low']:.4f}, {v['high']:.4f}]"
                                                          for m, v in s[side].items()))
    def cf(label: str, c: dict | None) -> None:
        if c and c.get("ips"):
            lines.append(f"  - counterfactual {label}: IPS {c['ips']['mean']:.4f} [{c['ips']['low']:.4f}, "
                         f"{c['ips']['high']:.4f}], SNIPS {c['snips']['mean']:.4f} [{c['snips']['low']:.4f}, "
                         f"{c['snips']['high']:.4f}] on {c['n']} logged stops (effective {c['effective_sample_size']}); "
                         f"logged acceptance {c['logged_acceptance']:.4f}")

    for s in report["shadow"]:
        cf(s["model"], s.get("counterfactual"))
    t = report["train"]
    lines.append(f"- training: **{t['action']}** {t.get('model', '')} {t.get('reason', '')}".rstrip())
    if "candidate" in t:
        for side in ("candidate", "reference"):
            lines.append(f"  - {side}: " + ", ".join(f"{m} {v['mean']:.4f} [{v['low']:.4f}, {v['high']:.4f}]"
                                                      for m, v in t[side].items() if m in REPORTED))
    for side, c in (t.get("counterfactual") or {}).items():
        cf(side, c)
    lines.append(f"- personas updated: {report['personas']['updated']}")
    return "\n".join(lines) + "\n"


async def _run(args) -> dict:
    from shared.adapters.postgres import create_pool
    from shared.engine.data.signals import logged_candidate_sets, logged_decisions, read_export

    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    start = args.through - timedelta(days=args.days - 1)
    window = f"{start.isoformat()}:{args.through.isoformat()}"
    loop = asyncio.get_running_loop()
    step = "extract"
    try:
        exported = await loop.run_in_executor(None, extract, args.through, args.extract_days)
        step = "read"
        table = await loop.run_in_executor(None, read_export, start, args.through)
        _log(f"window {window}: {table.num_rows} rows")
        sets = logged_candidate_sets(table)
        decisions = logged_decisions(table)
        _log(f"{len(sets)} logged candidate sets, {len(decisions)} answered stop decisions")
        pool = await create_pool(min_size=1, max_size=2)
        try:
            step = "shadow"
            shadow = await judge_shadows(pool, sets, args.min_shadow_sets, decisions)
            step = "train"
            trained = await train_and_gate(pool, args, table, window, decisions)
            step = "personas"
            personas = await refresh_personas(pool)
        finally:
            await pool.close()
    except Exception as exc:
        raise StepFailed(step, exc) from exc
    return {"run_id": run_id, "window": window, "rows": table.num_rows, "actions": _actions(table),
            "exported": exported, "shadow": shadow, "train": trained, "personas": personas}


class StepFailed(Exception):
    def __init__(self, step: str, exc: Exception):
        super().__init__(f"step {step} failed: {type(exc).__name__}: {exc}")
        self.step = step


def main(argv: list[str] | None = None) -> int:
    from shared.adapters import storage

    args = parse_args(argv)
    started = time.monotonic()
    try:
        report = asyncio.run(_run(args))
    except StepFailed as exc:
        import traceback

        traceback.print_exc()
        _log(f"FAILED: {exc}. Every step is idempotent: fix the cause and re-run the job.")
        return 1
    report["seconds"] = round(time.monotonic() - started, 1)
    prefix = f"learn/{report['run_id']}"
    uri = storage.write_bytes("reports", f"{prefix}/report.json",
                              json.dumps(report, indent=2, default=str).encode(), "application/json")
    storage.write_bytes("reports", f"{prefix}/report.md", to_markdown(report).encode(), "text/markdown")
    _log(f"report: {uri} ({report['seconds']}s)")
    print(json.dumps({"run_id": report["run_id"], "train": report["train"].get("action"),
                      "shadow": [s["action"] for s in report["shadow"]], "personas": report["personas"]["updated"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

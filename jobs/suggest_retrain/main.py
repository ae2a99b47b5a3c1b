"""Cloud Run Job, weekly (resources.yaml schedule weekly-suggest-retrain): retrain the suggestion rankers.

    python -m jobs.suggest_retrain.main [--rankers logistic lightgbm] [--no-promote] [--artifact-dir DIR]

1. export: the week's suggestion events (suggest_events: impressions with their context and candidate set,
   clicks, conversions) are written as JSON lines to the training-data bucket (suggest/<run>/events.jsonl) and
   the A/B report is built from them (shared.domains.catalogues.suggest.report). They are not trained on yet:
   the serving policy is deterministic, so they carry no exploration (shared.engine.suggest.retrain);
2. train: LR and LightGBM on the Open Bandit uniform log (shared.engine.suggest.retrain says why that log);
3. evaluate: test AUC with CIs against the reference (the production model of the same name, else the rule
   baseline), and off-policy IPS/SNIPS/DR of the candidate's greedy policy;
4. gate: registered as candidate, moved to shadow; on a passed gate promoted to production (the registry keeps
   one production row per name, the previous one is retired), so the weekly run (the scheduler passes no flags)
   gets better by itself; a blocked model stays in shadow with the gate's reason. --no-promote leaves a passed
   model in shadow too, for an operator to promote.

The report (metrics, gate, A/B) is written to the reports bucket (or --report-dir) and printed as JSON.
--artifact-dir writes artifacts to a local folder instead of the models bucket (a laptop without the stack).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

MODEL_NAMES = {"logistic": "suggest-logistic", "lightgbm": "suggest-lightgbm"}


def _write(bucket: str, path: str, data: bytes, local_dir: str | None) -> str:
    if local_dir:
        target = Path(local_dir) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return str(target)
    from shared.adapters import storage

    return storage.write_bytes(bucket, path, data)


async def run(args: argparse.Namespace) -> dict:
    import asyncpg

    from shared.domains.catalogues.suggest.config import get_config
    from shared.domains.catalogues.suggest.report import experiment_report
    from shared.domains.catalogues.suggest.serve import artifact_bytes, load_artifact
    from shared.engine.metrics.stats import MetricCI
    from shared.engine.registry.artifacts import read_artifact_bytes
    from shared.engine.registry.gate import GateDecision
    from shared.engine.registry import store
    from shared.engine.suggest import retrain
    from shared.engine.suggest.bandit_data import load_log
    from shared.settings import get_settings

    version = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    conn = await asyncpg.connect(get_settings().database_url)
    try:
        rows = await conn.fetch(
            "SELECT event_id, event_type, impression_id, request_id, user_id, item_id, surface, position, score, "
            "served_by, model_version, experiment, arm, propensity, context::text AS context, value, occurred_at "
            "FROM suggest_events WHERE occurred_at > now() - interval '7 days' ORDER BY id")
        lines = [json.dumps({**dict(r), "context": json.loads(r["context"])}, default=str) for r in rows]
        export = {"events": len(rows), "by_type": {t: sum(1 for r in rows if r["event_type"] == t)
                                                   for t in ("impression", "click", "conversion")},
                  "path": _write("training-data", f"suggest/{version}/events.jsonl",
                                 ("\n".join(lines) + "\n").encode() if lines else b"", args.artifact_dir)}
        ab = [await experiment_report(conn, name) for name in get_config().experiments]
        log = load_log("random", "all")
        rule, rule_stats = retrain.rule_baseline(log)
        rule_auc = retrain.test_auc(log, rule, rule_stats, "rule", args.resamples)
        models = {}
        for kind in args.rankers:
            name = MODEL_NAMES[kind]
            trained = retrain.train(log, kind)
            auc = retrain.test_auc(log, trained.ranker, trained.stats, name, args.resamples)
            production = await store.get_production(conn, name)
            reference_name, reference_auc = "rule", rule_auc
            if production is not None:
                try:
                    ranker, stats = load_artifact(read_artifact_bytes(production.artifact_path))
                    reference_name = production.served_by
                    reference_auc = retrain.test_auc(log, ranker, stats, reference_name, args.resamples)
                except Exception as exc:  # noqa: BLE001 - an unreadable production model is no reference
                    print(f"production {production.served_by} unreadable ({exc}); judged against the rule",
                          file=sys.stderr)
            ope = retrain.off_policy(log, trained.ranker, trained.stats, args.resamples)
            passed, reason = retrain.gate(auc, reference_auc, ope)
            path = _write("models", f"{name}/{version}/model.json", artifact_bytes(trained.ranker, trained.stats),
                          args.artifact_dir)
            metrics = {"auc": auc.to_dict(), "reference": {"model": reference_name, "auc": reference_auc.to_dict()},
                       "off_policy": ope, "validation": trained.validation, "gate": {"passed": passed,
                                                                                    "reason": reason}}
            await store.register_candidate(conn, name, version, path, metrics)
            await store.transition(conn, name, version, "shadow")
            status = "shadow"
            if passed and args.promote:
                decision = GateDecision(True, "auc", f"{name}@{version}", reference_name, auc,
                                        MetricCI(**{**reference_auc.to_dict(), "name": "auc"}), "obd-random-test",
                                        reason)
                await store.promote(conn, name, version, decision)
                status = "production"
            models[name] = {"version": version, "status": status, **metrics}
            print(f"{name}@{version}: {status}; {reason}", file=sys.stderr)
    finally:
        await conn.close()
    report = {"run": version, "export": export, "rule_baseline_auc": rule_auc.to_dict(),
              "models": models, "ab_tests": ab}
    report["report_path"] = _write("reports", f"suggest/{version}.json", json.dumps(report, indent=1).encode(),
                                   args.report_dir or args.artifact_dir)
    return report


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rankers", nargs="+", choices=sorted(MODEL_NAMES), default=sorted(MODEL_NAMES))
    ap.add_argument("--promote", action=argparse.BooleanOptionalAction, default=True,
                    help="promote a model that passes the gate (default); --no-promote: shadow only")
    ap.add_argument("--artifact-dir", help="write artifacts and the report here instead of the buckets")
    ap.add_argument("--report-dir", help="write the report here instead of the reports bucket")
    ap.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of the CIs")
    args = ap.parse_args(argv)
    print(json.dumps(asyncio.run(run(args)), indent=1, default=str))


if __name__ == "__main__":
    main()

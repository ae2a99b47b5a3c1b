"""Cloud Run Job: offline evaluation of registered models and baselines, with confidence intervals and the gate.

    python -m jobs.evaluate.main                                  # nightly: every candidate/shadow/production model
                                                                  # on the last 7 days of logged candidate sets
    python -m jobs.evaluate.main --dataset movielens-100k --split stratified:0.75 --seed 42 \
        --baseline popularity --baseline ease:l2=500 --candidates full --k 10
    python -m jobs.evaluate.main --dataset signals --from 2025-06-01 --to 2025-06-07 \
        --model trip_ranker --baseline popularity --gate-metric hr@5 --promote

What it does: loads the evaluation data (a public dataset and a split, or our exported signals for a date range,
trained on the days before it), loads each registered model's artifact and fits each baseline on the training part,
evaluates all of them on the same evaluation set (full ranking, sampled negatives, or the logged candidate sets),
compares each with the reference (the production model of the same name, else the first baseline) pairwise, applies
the promotion gate, judges every model in shadow on the live sets it scored off the response path, estimates each
model's acceptance counterfactually (IPS/SNIPS over the logged stop decisions), and writes a report (JSON, markdown, PNG) to the reports bucket and the metrics to
model_registry. With --promote a passing candidate moves to shadow, and a passing shadow to production (so a model
has to pass on two evaluations, the second including its shadow period, before it serves).
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from jobs.cli import iso_date

DEFAULT_METRICS = ("hr", "ndcg", "mrr", "precision", "recall", "map")


class UsageError(Exception):
    """Bad arguments or missing inputs: exit 2 with a message that says what to do."""


class NothingToDo(Exception):
    """The scheduled (argument-less) run found no data yet: not a failure."""


def _log(msg: str) -> None:
    print(f"evaluate: {msg}", flush=True)


def _ks(raw: str) -> tuple[int, ...]:
    try:
        ks = tuple(sorted({int(x) for x in raw.split(",") if x.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--k takes integers like 5,10; got {raw!r}") from None
    if not ks or ks[0] < 1:
        raise argparse.ArgumentTypeError("--k values must be >= 1")
    return ks


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m jobs.evaluate.main", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="signals",
                   help="movielens-100k, movielens-1m-implicit, foodcom-sample, catalogue:ID (an imported "
                        "catalogue's stored interactions), or signals (our export; default)")
    p.add_argument("--split", default=None,
                   help="for public datasets: stratified:R, random:R, leave-last:N or temporal:R (default stratified:0.75)")
    p.add_argument("--seed", type=int, default=42, help="split, negative sampling and bootstrap seed (default 42)")
    p.add_argument("--from", dest="date_from", type=iso_date, help="signals: first evaluated day (default: 7 days ago)")
    p.add_argument("--to", dest="date_to", type=iso_date, help="signals: last evaluated day (default: yesterday, UTC)")
    p.add_argument("--train-days", type=int, default=90, help="signals: days before --from used for training baselines")
    p.add_argument("--model", action="append", default=[],
                   help="registered model NAME (all its candidate/shadow/production versions) or NAME@VERSION; repeatable")
    p.add_argument("--baseline", action="append", default=[],
                   help="ranker fitted on the training part: NAME[:param=value,...], e.g. popularity, ease:l2=500")
    p.add_argument("--candidates", default=None,
                   help="full (rank the whole catalogue), sampled:N (test positives + N negatives) or logged "
                        "(the logged candidate sets; signals only) or answered (the logged sets cut down to the "
                        "items the user accepted or refused: no exposure bias). Default: logged for signals, full "
                        "otherwise")
    p.add_argument("--k", type=_ks, default=(5, 10), help="cut-offs, comma-separated (default 5,10)")
    p.add_argument("--metrics", default=",".join(DEFAULT_METRICS), help="ranking metrics (default: %(default)s)")
    p.add_argument("--gate-metric", default="hr@5", help="metric the promotion gate compares (default hr@5)")
    p.add_argument("--promote", action="store_true", help="act on passing gates (candidate->shadow, shadow->production)")
    p.add_argument("--n-resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--report-prefix", default="evaluations", help="object prefix in the reports bucket")
    p.add_argument("--no-registry", action="store_true", help="do not write metrics to model_registry")
    args = p.parse_args(argv)
    # the scheduled run passes no arguments: every registered model on last week's logged candidate sets
    args.nightly = args.dataset == "signals" and not args.model and not args.baseline
    if args.n_resamples < 100:
        p.error("--n-resamples must be at least 100")
    if args.train_days < 1:
        p.error("--train-days must be >= 1")
    return args


# --- evaluation data --------------------------------------------------------------------------------------------------
@dataclass
class EvalData:
    dataset: str
    fingerprint: str
    split: Any  # shared.engine.data.Split
    protocol: str  # full_ranking | candidates
    candidate_sets: Any = None  # CandidateSets for sampled/logged/answered
    description: dict[str, Any] = field(default_factory=dict)
    logged_sets: Any = None  # signals: every logged set of the window (shadow scores ride on them)
    decisions: list[Any] = field(default_factory=list)  # signals: logged stop decisions, for IPS/SNIPS


def _catalogue_dataset(catalogue_id: str):
    """An imported catalogue's stored interactions (what jobs/train --catalogue trains on)."""
    from jobs.catalogue_data import CatalogueMissing, load_catalogue_dataset

    try:
        return load_catalogue_dataset(catalogue_id)
    except CatalogueMissing as exc:
        raise UsageError(str(exc)) from None


def load_eval_data(args: argparse.Namespace) -> EvalData:
    from shared.engine.data.candidates import sample_negative_candidates
    from shared.engine.data.loaders import DatasetNotFound, load_dataset
    from shared.engine.data.splits import make_split

    mode = args.candidates or ("logged" if args.dataset == "signals" else "full")
    if args.dataset == "signals":
        return _load_signals(args, mode)
    if mode in ("logged", "answered"):
        raise UsageError(f"--candidates {mode} needs --dataset signals (public datasets have no logged candidate sets)")
    try:
        ds = _catalogue_dataset(args.dataset.split(":", 1)[1]) if args.dataset.startswith("catalogue:") \
            else load_dataset(args.dataset)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except DatasetNotFound as exc:
        raise UsageError(str(exc)) from None
    try:
        split = make_split(ds, args.split or "stratified:0.75", seed=args.seed)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _log(f"{ds.name}: {len(ds):,} interactions; split {split.description}: "
         f"{len(split.train):,} train / {len(split.test):,} test")
    data = EvalData(ds.name, ds.fingerprint, split, "full_ranking", description={"dataset_info": ds.describe()})
    if mode.startswith("sampled"):
        n = _int_suffix(mode, 100)
        data.candidate_sets = sample_negative_candidates(split.train, split.test, n_negatives=n, seed=args.seed)
        data.protocol = "candidates"
    elif mode != "full":
        raise UsageError(f"--candidates {mode!r}: use full, sampled:N or logged")
    return data


def _int_suffix(spec: str, default: int) -> int:
    _, _, raw = spec.partition(":")
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise UsageError(f"{spec!r}: expected an integer after ':'") from None
    if value < 1:
        raise UsageError(f"{spec!r}: must be >= 1")
    return value


def _load_signals(args: argparse.Namespace, mode: str) -> EvalData:
    import pyarrow as pa
    import pyarrow.compute as pc

    from shared.engine.data.signals import (BUCKET, PREFIX, logged_candidate_sets, logged_decisions, read_export,
                                            signals_dataset)
    from shared.engine.data.splits import temporal_split

    end = args.date_to or (datetime.now(UTC).date() - timedelta(days=1))
    start = args.date_from or (end - timedelta(days=6))
    if start > end:
        raise UsageError(f"--from {start} is after --to {end}")
    train_start = start - timedelta(days=args.train_days)
    _log(f"reading gs://<project>-{BUCKET}/{PREFIX}date={train_start}..{end} (train before {start}, evaluate {start}..{end})")
    table = read_export(train_start, end)
    cutoff = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    cutoff_us = int(cutoff.timestamp() * 1_000_000)
    eval_rows = table.filter(pc.greater_equal(table.column("created_at"), pa.scalar(cutoff, pa.timestamp("us", "UTC"))))
    if eval_rows.num_rows == 0:
        raise (NothingToDo if args.nightly else UsageError)(
            f"no exported signals between {start} and {end} in {BUCKET}/{PREFIX}: run the nightly_extract job for "
            "those days, or pick a range that has exports"
        )
    ds = signals_dataset(table, name=f"signals[{train_start}..{end}]")
    split = temporal_split(ds, ratio=None, cutoff_us=cutoff_us)
    description = {"dataset_info": ds.describe(), "train_from": str(train_start), "from": str(start), "to": str(end)}
    data = EvalData(f"signals {start}..{end}", ds.fingerprint, split, "candidates", description=description)
    data.logged_sets = logged_candidate_sets(eval_rows, name=f"signals[{start}..{end}]/logged")
    data.decisions = logged_decisions(eval_rows)
    if mode in ("logged", "answered"):
        sets = data.logged_sets if mode == "logged" else data.logged_sets.answered()
        usable = sets.with_positives()
        _log(f"{len(sets)} {mode} candidate sets, {len(usable)} with a positive among the candidates")
        if len(usable) == 0:
            raise (NothingToDo if args.nightly else UsageError)(
                f"no {mode} candidate set between {start} and {end} has a positive outcome yet")
        data.candidate_sets = sets
    elif mode == "full":
        data.protocol = "full_ranking"
    elif mode.startswith("sampled"):
        from shared.engine.data.candidates import sample_negative_candidates

        data.candidate_sets = sample_negative_candidates(split.train, split.test, _int_suffix(mode, 100), args.seed)
    else:
        raise UsageError(f"--candidates {mode!r}: use full, sampled:N, logged or answered")
    return data


# --- models ---------------------------------------------------------------------------------------------------------
@dataclass
class Entry:
    label: str  # name@version for registered models, baseline:<ranker@version> otherwise
    source: str  # registry | baseline
    ranker: Any
    record: Any = None  # ModelRecord for registered models
    evaluation: Any = None

    @property
    def model_name(self) -> str | None:
        return self.record.model_name if self.record else None


def _parse_baseline(spec: str) -> tuple[str, dict[str, Any]]:
    name, _, raw = spec.partition(":")
    params: dict[str, Any] = {}
    for part in filter(None, raw.split(",")):
        key, eq, value = part.partition("=")
        if not eq:
            raise UsageError(f"--baseline {spec!r}: parameters are key=value")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return name, params


def fit_baselines(specs: list[str], data: EvalData) -> list[Entry]:
    from shared.engine.rankers import RankerError, create_ranker

    out = []
    for spec in specs:
        name, params = _parse_baseline(spec)
        try:
            ranker = create_ranker(name, **params)
        except RankerError as exc:
            raise UsageError(f"--baseline {spec!r}: {exc}") from None
        start = time.perf_counter()
        ranker.fit(data.split.train)
        _log(f"baseline {ranker.served_by} fitted in {time.perf_counter() - start:.2f}s")
        out.append(Entry(f"baseline:{ranker.served_by}", "baseline", ranker))
    return out


async def _lookup_models(dsn: str, specs: list[str], nightly: bool) -> list[Any]:
    import asyncpg

    from shared.engine.registry import get_model, list_models

    conn = await asyncpg.connect(dsn)
    try:
        if nightly and not specs:
            return await list_models(conn, statuses=("candidate", "shadow", "production"))
        records = []
        for spec in specs:
            name, at, version = spec.partition("@")
            if at:
                records.append(await get_model(conn, name, version))
            else:
                found = await list_models(conn, name, statuses=("candidate", "shadow", "production"))
                if not found:
                    raise UsageError(f"no candidate, shadow or production model named {name!r} is registered: "
                                     "run the train job first, or name a version with NAME@VERSION")
                records.extend(found)
        return records
    finally:
        await conn.close()


def load_registered(args: argparse.Namespace, nightly: bool, skipped: list[str]) -> list[Entry]:
    from shared.engine.registry import ModelNotFound
    from shared.engine.registry.artifacts import download_artifact
    from shared.settings import get_settings

    if not args.model and not nightly:
        return []
    try:
        records = asyncio.run(_lookup_models(get_settings().database_url, args.model, nightly))
    except ModelNotFound as exc:
        raise UsageError(f"{exc}: check the name and version in model_registry") from None
    entries = []
    for rec in records:
        try:
            ranker = download_artifact(rec.artifact_path)
        except Exception as exc:
            message = f"{rec.served_by}: cannot load artifact {rec.artifact_path}: {type(exc).__name__}: {exc}"
            if nightly:  # one broken artifact must not stop the scheduled evaluation of every other model
                _log(f"warning: {message}; skipped")
                skipped.append(message)
                continue
            raise UsageError(f"{message}: check the artifact_path in model_registry") from None
        _log(f"registered {rec.served_by} ({rec.status}) <- {rec.artifact_path} [{ranker.served_by}]")
        entries.append(Entry(rec.served_by, "registry", ranker, record=rec))
    return entries


# --- evaluation, comparison, gate -------------------------------------------------------------------------------------
def evaluate_entries(entries: list[Entry], data: EvalData, args: argparse.Namespace, metrics: tuple[str, ...]) -> None:
    from shared.engine.metrics import evaluate_candidate_sets, evaluate_full_ranking

    for entry in entries:
        start = time.perf_counter()
        if data.protocol == "full_ranking":
            ev = evaluate_full_ranking(entry.ranker, data.split, ks=args.k, metrics=metrics,
                                       n_resamples=args.n_resamples, seed=args.seed)
        else:
            ev = evaluate_candidate_sets(entry.ranker, data.candidate_sets, ks=args.k, metrics=metrics,
                                         popularity_from=data.split.train, n_resamples=args.n_resamples, seed=args.seed)
        ev.model = entry.label
        entry.evaluation = ev
        headline = ", ".join(str(ev.metrics[m]) for m in list(ev.metrics)[:2])
        _log(f"{entry.label}: {headline} ({time.perf_counter() - start:.1f}s)")


def reference_for(entry: Entry, entries: list[Entry]) -> Entry | None:
    """What `entry` is compared with: the production model of the same name, else the first baseline (which itself
    has no reference)."""
    if entry.record is not None:
        for other in entries:
            if other is not entry and other.record is not None and other.model_name == entry.model_name \
                    and other.record.status == "production":
                return other
    first_baseline = next((e for e in entries if e.source == "baseline"), None)
    return first_baseline if first_baseline is not entry else None


def run_gates(entries: list[Entry], gate_metric: str) -> list[tuple[Entry, Entry, Any]]:
    from shared.engine.registry import promotion_gate

    out = []
    for entry in entries:
        if entry.record is None or entry.record.status not in ("candidate", "shadow"):
            continue
        ref = reference_for(entry, entries)
        if ref is None:
            _log(f"gate: {entry.label} has no reference (no production model, no baseline): skipped")
            continue
        decision = promotion_gate(
            entry.evaluation.metrics[gate_metric], ref.evaluation.metrics[gate_metric],
            candidate_model=entry.label, reference_model=ref.label,
            candidate_eval_set=entry.evaluation.eval_set, reference_eval_set=ref.evaluation.eval_set,
            paired=entry.evaluation.compare(ref.evaluation, gate_metric),
        )
        _log(f"gate: {decision.reason}")
        out.append((entry, ref, decision))
    return out


def judge_shadows(entries: list[Entry], data: EvalData, seed: int) -> list[dict[str, Any]]:
    """Every registered model in shadow, judged on the live sets it scored off the response path
    (shared.engine.registry.shadow_gate) against what was served on them."""
    from shared.engine.registry.shadow_gate import shadow_gate

    if data.logged_sets is None:
        return []
    out = []
    for e in entries:
        if e.record is None or e.record.status != "shadow":
            continue
        ref = next((o.label for o in entries if o.record is not None and o.model_name == e.model_name
                    and o.record.status == "production"), "served:logged")
        result = shadow_gate(data.logged_sets, e.label, f"ml:{e.label}", ref, seed=seed)
        _log(f"shadow {e.label}: {result.reason} ({result.sets} sets)")
        out.append(result.to_dict())
    return out


def counterfactuals(entries: list[Entry], data: EvalData, seed: int) -> list[dict[str, Any]]:
    """IPS/SNIPS of each model's acceptance from the logged stop decisions of the window (the planner's
    epsilon-greedy propensities), beside the acceptance the logging policy got."""
    from shared.engine.metrics.counterfactual import ranker_estimate

    if not data.decisions:
        return []
    out = []
    for e in entries:
        try:
            est = ranker_estimate(e.ranker, data.decisions, seed=seed)
        except Exception as exc:  # a model that cannot score some logged option is reported, not fatal
            est = {"n": len(data.decisions), "error": f"{type(exc).__name__}: {exc}"}
        out.append({"model": e.label, **est})
        if est.get("snips"):
            _log(f"counterfactual {e.label}: SNIPS {est['snips']['mean']:.4f} on {est['n']} stops "
                 f"(effective {est['effective_sample_size']}), logged {est['logged_acceptance']:.4f}")
    return out


# --- report and writes ------------------------------------------------------------------------------------------------
def _short_label(e: Entry) -> str:
    """Chart label: name@version shortened, with the registry status, so production and candidates stand out."""
    label = e.label if len(e.label) <= 30 else e.label[:27] + "..."
    return f"{label} [{e.record.status}]" if e.record else label


def build_report(run_id: str, args: argparse.Namespace, data: EvalData, entries: list[Entry],
                 gates: list[tuple[Entry, Entry, Any]], warnings: list[str],
                 shadow: list[dict[str, Any]] | None = None,
                 counterfactual: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    first = entries[0].evaluation
    metric_names = list(first.metrics)
    models = []
    for e in entries:
        manifest = getattr(e.ranker, "manifest", None)
        models.append({
            "model": e.label,
            "label": _short_label(e),
            "source": e.source,
            "ranker": e.ranker.name,
            "ranker_version": e.ranker.version,
            "params": getattr(e.ranker, "params", {}),
            "status": e.record.status if e.record else None,
            "artifact_path": e.record.artifact_path if e.record else None,
            "trained_on": manifest.trained_on if manifest else None,
            "fit_seconds": manifest.fit_seconds if manifest else None,
            "metrics": {k: v.to_dict() for k, v in e.evaluation.metrics.items()},
            "extra": e.evaluation.extra,
        })
    comparisons = []
    references = []
    for e in entries:
        ref = reference_for(e, entries)
        if ref is None:
            continue
        if ref.label not in references:
            references.append(ref.label)
        for metric in dict.fromkeys([args.gate_metric] + [m for m in metric_names if m.startswith("ndcg@")][:1]):
            if metric in e.evaluation.per_user:
                c = e.evaluation.compare(ref.evaluation, metric, seed=args.seed).to_dict()
                comparisons.append({"model": e.label, "reference": ref.label, **c})
    return {
        "run_id": run_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": os.environ.get("COMMIT_SHA") or os.environ.get("K_REVISION") or "local",
        "args": {k: (list(v) if isinstance(v, tuple) else v if isinstance(v, (int, float, bool, list)) or v is None
                     else str(v)) for k, v in vars(args).items()},
        "data": {"dataset": data.dataset, "fingerprint": data.fingerprint, "split": data.split.description,
                 "split_params": data.split.params, **data.description,
                 "candidate_sets": data.candidate_sets.describe() if data.candidate_sets is not None else None},
        "seed": args.seed,
        "protocol": first.protocol,
        "ks": list(args.k),
        "eval_set": first.eval_set,
        "n_users": int(len(first.users)),
        "confidence": 0.95,
        "n_resamples": args.n_resamples,
        "metric_definitions": "shared/engine/metrics/ranking.py (Microsoft Recommenders python_evaluation; "
                              "map@k = their current map_at_k, normalised by min(|relevant|, k))",
        "metric_names": metric_names,
        "models": models,
        "reference_models": references,
        "comparisons": comparisons,
        "gate": [d.to_dict() | {"action": None} for _, _, d in gates],
        "shadow": shadow or [],
        "counterfactual": counterfactual or [],
        "warnings": warnings,
    }


def write_report(report: dict[str, Any], prefix: str) -> dict[str, str]:
    from jobs.evaluate.report import to_json, to_markdown, to_png
    from shared.adapters import storage

    base = f"{prefix.strip('/')}/{report['run_id']}"
    png = to_png(report)
    markdown = to_markdown(report)
    uris = {
        "png": storage.write_bytes("reports", f"{base}/metrics.png", png, "image/png"),
        "markdown": storage.write_bytes("reports", f"{base}/report.md", markdown.encode(), "text/markdown"),
    }
    report["artifacts"] = dict(uris, json=f"gs://{storage.bucket_name('reports')}/{base}/report.json")
    # the JSON goes last: its presence means the run's report is complete
    uris["json"] = storage.write_bytes("reports", f"{base}/report.json", to_json(report), "application/json")
    return uris


async def _registry_writes(dsn: str, report: dict[str, Any], entries: list[Entry],
                           gates: list[tuple[Entry, Entry, Any]], promote: bool) -> list[str]:
    import asyncpg

    from shared.engine.registry import RegistryError, promote as promote_model, record_evaluation, transition

    actions = []
    conn = await asyncpg.connect(dsn)
    try:
        for e in entries:
            if e.record is None:
                continue
            summary = e.evaluation.summary() | {
                "run_id": report["run_id"], "report": report["artifacts"]["json"], "dataset": report["data"]["dataset"],
                "split": report["data"]["split"], "seed": report["seed"], "evaluated_at": report["created_at"],
            }
            await record_evaluation(conn, e.record.model_name, e.record.version, e.evaluation.eval_set, summary)
        if promote:
            for entry, _ref, decision in gates:
                if not decision.passed:
                    continue
                try:
                    if entry.record.status == "candidate":
                        await transition(conn, entry.record.model_name, entry.record.version, "shadow")
                        actions.append(f"{entry.label}: candidate -> shadow")
                    elif entry.record.status == "shadow":
                        await promote_model(conn, entry.record.model_name, entry.record.version, decision)
                        actions.append(f"{entry.label}: shadow -> production")
                except RegistryError as exc:
                    actions.append(f"{entry.label}: not promoted ({exc})")
    finally:
        await conn.close()
    return actions


def _run_id(args: argparse.Namespace, eval_set: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256(json.dumps([vars(args), eval_set], default=str).encode()).hexdigest()[:6]
    return f"{stamp}-{digest}"


def run(args: argparse.Namespace) -> int:
    from shared.settings import get_settings

    nightly = args.nightly
    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    from shared.engine.metrics import RANKING_METRICS

    unknown = [m for m in metrics if m not in RANKING_METRICS]
    if unknown:
        raise UsageError(f"--metrics: unknown {', '.join(unknown)}; known: {', '.join(RANKING_METRICS)}")
    gate_name, _, gate_k = args.gate_metric.partition("@")
    if gate_name not in metrics or not gate_k.isdigit() or int(gate_k) not in args.k:
        raise UsageError(f"--gate-metric {args.gate_metric}: must be one of --metrics at one of --k "
                         f"(e.g. {metrics[0]}@{args.k[0]})")
    data = load_eval_data(args)
    warnings: list[str] = []
    entries = load_registered(args, nightly, warnings)
    baselines = list(args.baseline) or (["popularity"] if args.dataset == "signals" else [])
    entries += fit_baselines(baselines, data)
    if not entries:
        raise UsageError("nothing to evaluate: pass --model NAME[@VERSION] and/or --baseline RANKER")
    for e in entries:
        manifest = getattr(e.ranker, "manifest", None)
        trained = manifest.trained_on if manifest else {}
        if e.source == "registry" and data.protocol == "full_ranking" and trained \
                and trained.get("fingerprint") != data.split.train.fingerprint:
            warnings.append(f"{e.label} was trained on {trained.get('dataset')} ({trained.get('fingerprint')}), not on "
                            f"this split's training data ({data.split.train.fingerprint}): its test items may have "
                            "been in its training data")
        until = trained.get("until")
        evaluated_from = data.description.get("from")
        if e.source == "registry" and until and evaluated_from and until[:10] >= evaluated_from:
            warnings.append(f"{e.label} was trained on data up to {until}, inside the evaluated window "
                            f"(from {evaluated_from}): its figures may be optimistic")
    for w in warnings:
        _log(f"warning: {w}")
    evaluate_entries(entries, data, args, metrics)
    gates = run_gates(entries, args.gate_metric)
    shadow = judge_shadows(entries, data, args.seed)
    counterfactual = counterfactuals(entries, data, args.seed)
    run_id = _run_id(args, entries[0].evaluation.eval_set)
    report = build_report(run_id, args, data, entries, gates, warnings, shadow, counterfactual)
    uris = write_report(report, args.report_prefix)
    actions: list[str] = []
    if any(e.record is not None for e in entries) and not args.no_registry:
        actions = asyncio.run(_registry_writes(get_settings().database_url, report, entries, gates, args.promote))
        if actions:  # re-write the JSON so the report says what the gate did
            from jobs.evaluate.report import to_json
            from shared.adapters import storage

            for gate, (entry, _ref, _d) in zip(report["gate"], gates):
                gate["action"] = next((a for a in actions if a.startswith(entry.label + ":")), None)
            path = uris["json"].split("/", 3)[3]
            storage.write_bytes("reports", path, to_json(report), "application/json")
    _log(f"report: {uris['json']}")
    _log(f"        {uris['markdown']}")
    _log(f"        {uris['png']}")
    for a in actions:
        _log(f"registry: {a}")
    _log(f"done: {len(entries)} model(s) on {report['n_users']} users, eval set {report['eval_set']}, run {run_id}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except NothingToDo as exc:
        _log(f"nothing to evaluate: {exc}")
        return 0
    except UsageError as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # report the failure in one line with the next step; the traceback goes to stderr too
        import traceback

        traceback.print_exc()
        print(f"evaluate: failed: {type(exc).__name__}: {exc}. Each registry write is its own transaction and a "
              "report is only complete once its report.json exists; fix the cause and re-run (safe to repeat).",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

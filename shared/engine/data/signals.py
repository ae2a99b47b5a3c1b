"""Our own nightly export (training-data bucket, signals/date=YYYY-MM-DD/*.parquet) as engine data.

The export is written by the nightly_extract job; this module only reads it, and reads it defensively: unknown
columns are ignored, missing optional columns become nulls, and types are cast to the one schema below, so the
writer can add columns without breaking evaluation.

Two views of the same rows:
- `signals_dataset`: every row with an item is an interaction (weight, time, positive flag, day part, ...);
- `logged_candidate_sets`: every generation's logged candidate set with the items that turned out positive (and,
  when a model in shadow scored it, that model's version and scores, aligned with the candidates).
  A generation is a distinct (user, trip, candidate list); it starts at its earliest row. Its positives are the
  positive rows (accept / thumbs_up / pivot_accept) of the same user and trip from that moment until the same
  trip's next generation, restricted to the candidates; its negatives are the skips, swaps and other refusals
  (NEGATIVE_TYPES) attributed the same way. Models are judged on the answered items only
  (CandidateSets.answered), where every label is real.
"""
from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shared.engine.data.candidates import CandidateSet, CandidateSets
from shared.engine.data.dataset import InteractionDataset
from shared.engine.events.schema import NEGATIVE_TYPES, POSITIVE_TYPES  # the one definition of each

BUCKET = "training-data"
PREFIX = "signals/"

SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("signal_type", pa.string()),
        ("weight", pa.float32()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("trip_id", pa.string()),
        ("model_version", pa.string()),
        ("time_to_action_ms", pa.int64()),
        ("day_part", pa.string()),
        ("candidates", pa.list_(pa.string())),
        ("positive", pa.bool_()),
        # candidate-set rows only: a model in shadow scored the same candidates off the response path
        ("shadow_model_version", pa.string()),
        ("shadow_scores", pa.list_(pa.float32())),
        # the item's catalogue tags when the signal was exported (content features for rankers that use them)
        ("item_tags", pa.list_(pa.string())),
        # candidate-set rows only: the logging policy's per-stop decisions (options, propensities, chosen), JSON
        ("decisions", pa.string()),
    ]
)
REQUIRED = ("event_id", "user_id", "signal_type", "weight", "created_at")
_DATE_DIR = re.compile(r"date=(\d{4}-\d{2}-\d{2})/")


class SignalsExportError(ValueError):
    pass


def partition_path(day: date) -> str:
    return f"{PREFIX}date={day.isoformat()}/"


def conform(table: pa.Table, source: str = "export") -> pa.Table:
    """Project any export file onto SCHEMA: extra columns dropped, optional ones filled with nulls, types cast."""
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise SignalsExportError(f"{source}: missing required column(s) {', '.join(missing)}")
    cols = []
    for fld in SCHEMA:
        if fld.name in table.column_names:
            col = table.column(fld.name)
            if fld.name == "created_at" and pa.types.is_timestamp(col.type) and col.type.tz is None:
                col = pc.assume_timezone(col, "UTC")  # naive timestamps in the export are UTC by contract
            cols.append(col.cast(fld.type))
        elif fld.name == "positive":
            types = table.column("signal_type")
            cols.append(pc.is_in(types, value_set=pa.array(sorted(POSITIVE_TYPES))))
        elif fld.name in ("candidates", "shadow_scores", "item_tags"):
            cols.append(pa.array([[] for _ in range(table.num_rows)], type=fld.type))
        else:
            cols.append(pa.nulls(table.num_rows, type=fld.type))
    return pa.Table.from_arrays(cols, schema=SCHEMA)


def _days(start: date, end: date) -> Iterable[date]:
    if end < start:
        raise SignalsExportError(f"date range is empty: {start} > {end}")
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def read_export(start: date, end: date, root: Path | None = None) -> pa.Table:
    """All partitions for start..end inclusive, from the training-data bucket, or from a local folder laid out the
    same way (`root`/signals/date=.../*.parquet) when root is given. Missing days are skipped, not errors."""
    tables = []
    for day in _days(start, end):
        if root is not None:
            for path in sorted((root / partition_path(day)).glob("*.parquet")):
                tables.append(conform(pq.read_table(path), str(path)))
        else:
            from shared.adapters import storage  # only the bucket path needs the GCS client

            for name in storage.list_paths(BUCKET, partition_path(day)):
                if name.endswith(".parquet"):
                    raw = storage.read_bytes(BUCKET, name)
                    tables.append(conform(pq.read_table(io.BytesIO(raw)), f"gs://{BUCKET}/{name}"))
    if not tables:
        return SCHEMA.empty_table()
    return pa.concat_tables(tables)


def signals_dataset(table: pa.Table, name: str = "signals") -> InteractionDataset:
    """Rows with an item, in time order; the positive flag, signal type and logging context travel as context."""
    table = conform(table) if table.schema != SCHEMA else table
    table = table.filter(pc.is_valid(table.column("item_id")))
    table = table.take(pc.sort_indices(table, sort_keys=[("created_at", "ascending"), ("event_id", "ascending")]))
    ts = table.column("created_at").cast(pa.int64()).to_numpy(zero_copy_only=False)

    def strings(col: str) -> np.ndarray:
        return np.array(table.column(col).to_pylist(), dtype=object)

    tags: dict[str, tuple[str, ...]] = {}
    for item, item_tags in zip(table.column("item_id").to_pylist(), table.column("item_tags").to_pylist()):
        if item_tags:
            tags[item] = tuple(item_tags)  # the latest export of the item wins
    tta = table.column("time_to_action_ms").to_numpy(zero_copy_only=False)
    return InteractionDataset.from_columns(
        name,
        strings("user_id"),
        strings("item_id"),
        timestamps=ts,
        weights=table.column("weight").to_numpy(zero_copy_only=False),
        context={
            "positive": table.column("positive").fill_null(False).to_numpy(zero_copy_only=False).astype(bool),
            "signal_type": strings("signal_type"),
            "trip_id": strings("trip_id"),
            "model_version": strings("model_version"),
            "day_part": strings("day_part"),
            "event_id": strings("event_id"),
            "time_to_action_ms": np.where(np.isnan(tta.astype(np.float64)), -1, tta).astype(np.int64),
        },
        item_features={"tags": tags},
    )


def logged_candidate_sets(table: pa.Table, name: str = "signals/logged") -> CandidateSets:
    table = conform(table) if table.schema != SCHEMA else table
    rows = table.to_pydict() if table.num_rows else {c: [] for c in SCHEMA.names}
    n = table.num_rows
    ts = table.column("created_at").cast(pa.int64()).to_numpy(zero_copy_only=False) if n else np.empty(0, np.int64)

    # 1. generations: distinct (user, trip, candidate list), starting at their earliest row
    generations: dict[tuple, dict] = {}
    for r in range(n):
        cands = rows["candidates"][r] or []
        if not cands:
            continue
        key = (rows["user_id"][r], rows["trip_id"][r], tuple(cands))
        g = generations.get(key)
        if g is None or ts[r] < g["t"]:
            generations[key] = {
                "t": int(ts[r]),
                "event_id": rows["event_id"][r],
                "model_version": rows["model_version"][r],
                "day_part": rows["day_part"][r],
                "shadow_model_version": rows["shadow_model_version"][r],
                "shadow_scores": rows["shadow_scores"][r] or [],
            }
    by_thread: dict[tuple, list[tuple[int, tuple]]] = defaultdict(list)  # (user, trip) -> [(start, key)]
    for key, g in generations.items():
        by_thread[(key[0], key[1])].append((g["t"], key))
    for lst in by_thread.values():
        lst.sort()

    # 2. answers (positive rows, and the negative types), attributed to the latest generation of the same
    #    (user, trip) that started at or before them
    positives: dict[tuple, set[str]] = defaultdict(set)
    negatives: dict[tuple, set[str]] = defaultdict(set)
    for r in range(n):
        item = rows["item_id"][r]
        if item is None:
            continue
        if rows["positive"][r]:
            answers = positives
        elif rows["signal_type"][r] in NEGATIVE_TYPES:
            answers = negatives
        else:
            continue
        thread = by_thread.get((rows["user_id"][r], rows["trip_id"][r]))
        if not thread:
            continue
        starts = [t for t, _ in thread]
        idx = int(np.searchsorted(starts, ts[r], side="right")) - 1
        if idx >= 0:
            answers[thread[idx][1]].add(item)

    sets = []
    for key, g in sorted(generations.items(), key=lambda kv: (kv[1]["t"], kv[1]["event_id"])):
        user, trip, cands = key
        took = frozenset(positives.get(key, set()) & set(cands))
        sets.append(
            CandidateSet(
                user_id=user,
                candidates=cands,
                positives=took,
                negatives=frozenset(negatives.get(key, set()) & set(cands)) - took,
                key=g["event_id"],
                model_version=g["model_version"],
                context={"trip_id": trip, "day_part": g["day_part"], "created_at_us": g["t"],
                         **({"shadow_model_version": g["shadow_model_version"], "shadow_scores": g["shadow_scores"]}
                            if g["shadow_model_version"] and len(g["shadow_scores"]) == len(cands) else {})},
            )
        )
    return CandidateSets(name=name, sets=tuple(sets), params={"source": "logged"})


@dataclass(frozen=True)
class LoggedDecision:
    """One stop's logged choice and what the user made of the chosen venue: 1 accepted, 0 skipped or swapped."""
    user_id: str
    trip_id: str
    options: tuple[str, ...]
    propensities: tuple[float, ...]
    chosen: str
    reward: int
    context: dict


def logged_decisions(table: pa.Table) -> list[LoggedDecision]:
    """Every logged stop decision whose chosen venue got an answer (accept, skip or swap) from the same user in the
    same trip after the decision was logged; unanswered stops (never looked at) carry no reward and are left out."""
    table = conform(table) if table.schema != SCHEMA else table
    rows = table.to_pydict()
    ts = table.column("created_at").cast(pa.int64()).to_numpy(zero_copy_only=False) if table.num_rows else []
    answers: dict[tuple, list[tuple[int, int]]] = defaultdict(list)  # (user, trip, item) -> [(time, reward)]
    for r in range(table.num_rows):
        kind = rows["signal_type"][r]
        if kind in ("slot_accept", "slot_skip", "slot_swap") and rows["item_id"][r]:
            answers[(rows["user_id"][r], rows["trip_id"][r], rows["item_id"][r])].append(
                (int(ts[r]), int(kind == "slot_accept")))
    out = []
    for r in range(table.num_rows):
        raw = rows["decisions"][r]
        if rows["signal_type"][r] != "candidate_set_logged" or not raw:
            continue
        for d in json.loads(raw):
            later = sorted(a for a in answers.get((rows["user_id"][r], rows["trip_id"][r], d.get("chosen")), [])
                           if a[0] >= ts[r])
            if not later or d.get("chosen") not in (d.get("options") or []):
                continue
            out.append(LoggedDecision(rows["user_id"][r], rows["trip_id"][r], tuple(d["options"]),
                                      tuple(float(p) for p in d["propensities"]), d["chosen"], later[0][1],
                                      {**{k: d.get(k) for k in ("slot_id", "day_of_trip", "day_part", "kind", "explore")},
                                       "model_version": rows["model_version"][r], "created_at_us": int(ts[r])}))
    return out


def export_dates(paths: Iterable[str]) -> list[date]:
    """Dates present in a listing of the bucket (used to report what a run actually read)."""
    found = {m.group(1) for p in paths if (m := _DATE_DIR.search(p))}
    return sorted(date.fromisoformat(d) for d in found)


def hold_out_last_generation(table: pa.Table, name: str = "signals") -> tuple[InteractionDataset, CandidateSets]:
    """Per-user temporal leave-last-out on our own signals: each user's latest logged generation with both an
    accepted and a refused item is held out, cut down to the items the user answered (CandidateSets.answered:
    the evaluation set), and training keeps only the rows before it started. Users without such a generation
    train on everything. The same table always gives the same split, so the trainer and the gate that judges
    its model agree on it without passing it around."""
    ds = signals_dataset(table, name=name)
    sets = logged_candidate_sets(table, name=f"{name}/logged").answered()
    last: dict[str, CandidateSet] = {}
    for cs in sets.sets:  # in start order: the last one seen per user is the latest
        last[cs.user_id] = cs
    held = CandidateSets(name=f"{name}/last-generation", sets=tuple(sorted(last.values(), key=lambda s: s.key)),
                         params={"source": "logged", "holdout": "last_generation"})
    cutoff = {u: cs.context["created_at_us"] for u, cs in last.items()}
    users = ds.user_ids[ds.users]
    limit = np.array([cutoff.get(u, np.iinfo(np.int64).max) for u in users], dtype=np.int64)
    keep = ds.timestamps < limit
    return ds.subset(keep, name=f"{name}[before each user's last generation]"), held

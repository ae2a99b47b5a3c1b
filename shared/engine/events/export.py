"""behavioral_signals for one UTC day as training-ready Parquet.

One row per signal. Every row carries the full candidate set of the generation it belongs to, so a trainer can
read a day's file and see, for each action, what else the model could have shown:
- a `candidate_set_logged` row carries its own set;
- an action names its generation (context.candidate_set_event_id) when the client knew it; otherwise it belongs
  to the latest generation logged for the same user and trip at or before it (possibly on an earlier day);
- failing both, the candidates the client reported in its context, else an empty list.

The bytes are a pure function of the rows: rows are sorted by (created_at, event_id), row groups have a fixed
size and no writer metadata carries a timestamp, so re-running a day over unchanged data rewrites the same file.
"""
from __future__ import annotations

import io
import json
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from shared.engine.data.signals import SCHEMA as SIGNALS_SCHEMA
from shared.engine.events.schema import POSITIVE_TYPES

BUCKET = "training-data"
ROW_GROUP = 50_000

# The loader (shared.engine.data.signals) owns the format; the export writes exactly that schema.
EXPORT_SCHEMA = SIGNALS_SCHEMA

EXPORT_QUERY = """
SELECT s.event_id, s.user_id, s.activity_node_id AS item_id, s.signal_type, s.weight, s.created_at, s.trip_id,
       s.model_version, s.context->'time_to_action_ms' AS time_to_action_ms, s.context->>'day_part' AS day_part,
       CASE WHEN s.signal_type = 'candidate_set_logged' THEN s.context->'candidates'
            ELSE coalesce(linked.candidates, latest.candidates, s.context->'candidates') END AS candidates,
       CASE WHEN s.signal_type = 'candidate_set_logged' THEN s.context->'shadow'->>'model_version' END
            AS shadow_model_version,
       CASE WHEN s.signal_type = 'candidate_set_logged' THEN s.context->'shadow'->'scores' END AS shadow_scores,
       n.vibe_tags AS item_tags,
       CASE WHEN s.signal_type = 'candidate_set_logged' THEN s.context->'decisions' END AS decisions
  FROM behavioral_signals s
  LEFT JOIN activity_nodes n ON n.id = s.activity_node_id
  LEFT JOIN LATERAL (
        SELECT g.context->'candidates' AS candidates FROM behavioral_signals g
         WHERE g.event_id = s.context->>'candidate_set_event_id' AND g.signal_type = 'candidate_set_logged'
       ) linked ON s.signal_type <> 'candidate_set_logged'
  LEFT JOIN LATERAL (
        SELECT g.context->'candidates' AS candidates FROM behavioral_signals g
         WHERE g.signal_type = 'candidate_set_logged' AND g.trip_id = s.trip_id AND g.user_id = s.user_id
           AND g.created_at <= s.created_at
         ORDER BY g.created_at DESC, g.event_id DESC
         LIMIT 1
       ) latest ON s.signal_type <> 'candidate_set_logged' AND s.trip_id IS NOT NULL
 WHERE s.created_at >= $1 AND s.created_at < $2
 ORDER BY s.created_at, s.event_id
"""


def partition_path(day: date) -> str:
    return f"signals/date={day.isoformat()}/"


def part_path(day: date, part: int = 0) -> str:
    return f"{partition_path(day)}part-{part:05d}.parquet"


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def _candidate_ids(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    ids = []
    for cand in value:
        if isinstance(cand, dict) and cand.get("id") is not None:
            ids.append(str(cand["id"]))
        elif isinstance(cand, str):
            ids.append(cand)
    return ids


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    return None


def _get(row: Any, key: str) -> Any:
    try:
        return row[key]
    except (KeyError, IndexError):
        return None


def _floats(value: Any) -> list[float]:
    if isinstance(value, str):  # jsonb arrives as text without the adapter's codecs
        import json

        value = json.loads(value)
    if not isinstance(value, list):
        return []
    return [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float("nan") for v in value]


def _json_text(value: Any) -> str | None:
    if value is None or value == [] or value == "[]":
        return None
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)


def rows_to_table(rows: list[Any]) -> pa.Table:
    cols: dict[str, list[Any]] = {name: [] for name in EXPORT_SCHEMA.names}
    for r in rows:
        cols["event_id"].append(r["event_id"])
        cols["user_id"].append(r["user_id"])
        cols["item_id"].append(r["item_id"])
        cols["signal_type"].append(r["signal_type"])
        cols["weight"].append(float(r["weight"]))
        cols["created_at"].append(r["created_at"])
        cols["trip_id"].append(r["trip_id"])
        cols["model_version"].append(r["model_version"])
        cols["time_to_action_ms"].append(_int_or_none(r["time_to_action_ms"]))
        cols["day_part"].append(r["day_part"])
        cols["candidates"].append(_candidate_ids(r["candidates"]))
        cols["positive"].append(r["signal_type"] in POSITIVE_TYPES)
        cols["shadow_model_version"].append(_get(r, "shadow_model_version"))
        cols["shadow_scores"].append(_floats(_get(r, "shadow_scores")))
        cols["item_tags"].append([str(t) for t in (_get(r, "item_tags") or [])])
        cols["decisions"].append(_json_text(_get(r, "decisions")))
    return pa.Table.from_pydict(cols, schema=EXPORT_SCHEMA)


async def export_day(pool, day: date) -> tuple[bytes, int]:
    """The day's Parquet file and its row count; an empty day still gets a file with the schema."""
    start, end = day_bounds(day)
    sink = io.BytesIO()
    count = 0
    with pq.ParquetWriter(sink, EXPORT_SCHEMA, compression="zstd", write_statistics=True) as writer:
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            batch: list[Any] = []
            async for row in conn.cursor(EXPORT_QUERY, start, end, prefetch=2_000):
                batch.append(row)
                if len(batch) == ROW_GROUP:
                    writer.write_table(rows_to_table(batch), row_group_size=ROW_GROUP)
                    count += len(batch)
                    batch = []
            if batch or count == 0:
                writer.write_table(rows_to_table(batch), row_group_size=ROW_GROUP)
                count += len(batch)
    return sink.getvalue(), count

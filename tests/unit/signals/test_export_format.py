"""The export's columns are the ones the training loader reads, and its bytes depend only on the rows."""
from __future__ import annotations

import io
from datetime import date, datetime, timezone

import pyarrow.parquet as pq

from shared.engine.data import signals as loader
from shared.engine.events.export import EXPORT_SCHEMA, day_bounds, part_path, rows_to_table


def _row(i, **over):
    row = {"event_id": f"e{i}", "user_id": "u1", "item_id": f"n{i}", "signal_type": "slot_accept", "weight": 1.0,
           "created_at": datetime(2025, 6, 1, 10, i, tzinfo=timezone.utc), "trip_id": "t1", "model_version": "m1",
           "time_to_action_ms": 1200, "day_part": "morning", "candidates": [{"id": "n1", "score": 1}, {"id": "n2"}]}
    row.update(over)
    return row


def test_schema_matches_the_training_loader():
    assert EXPORT_SCHEMA.equals(loader.SCHEMA)


def test_partition_layout_matches_the_loader():
    assert part_path(date(2025, 6, 1)) == "signals/date=2025-06-01/part-00000.parquet"
    assert part_path(date(2025, 6, 1)).startswith(loader.partition_path(date(2025, 6, 1)))
    start, end = day_bounds(date(2025, 6, 1))
    assert start.isoformat() == "2025-06-01T00:00:00+00:00" and (end - start).days == 1


def test_rows_become_typed_columns():
    table = rows_to_table([
        _row(1),
        _row(2, signal_type="slot_skip", time_to_action_ms=None, candidates=None, item_id=None, trip_id=None),
        _row(3, signal_type="thumbs_up", time_to_action_ms=True),
    ])
    assert table.schema.equals(EXPORT_SCHEMA)
    cols = table.to_pydict()
    assert cols["candidates"] == [["n1", "n2"], [], ["n1", "n2"]]
    assert cols["positive"] == [True, False, True]
    assert cols["time_to_action_ms"] == [1200, None, None]
    assert loader.conform(table).num_rows == 3


def test_same_rows_same_bytes():
    def write(rows):
        buf = io.BytesIO()
        pq.write_table(rows_to_table(rows), buf, compression="zstd")
        return buf.getvalue()

    rows = [_row(i) for i in range(5)]
    assert write(rows) == write([dict(r) for r in rows])

"""nightly_extract on the local stack: the Parquet read back from the GCS emulator matches the database for that
date, and a second run writes the same bytes (and clears anything else from the partition)."""
from __future__ import annotations

import io
import random
from datetime import datetime, time as dtime, timedelta, timezone

import pyarrow.parquet as pq
import pytest

from tests.integration.signals.conftest import make_world, pool, run
from tests.integration.signals.stack_helpers import event_id, post_signals, signal, wait_for

pytestmark = pytest.mark.integration


def test_extract_matches_the_database_and_is_byte_identical_on_rerun(stack):
    from jobs.nightly_extract.main import main as extract
    from shared.adapters import storage
    from shared.adapters.pubsub import publish_json
    from shared.engine.events.export import BUCKET, day_bounds, part_path, partition_path

    world = make_world(n_users=2, n_nodes=8)
    day = datetime.now(timezone.utc).date() - timedelta(days=random.randrange(30, 1500))
    at = lambda h, m=0: datetime.combine(day, dtime(h, m), tzinfo=timezone.utc)  # noqa: E731
    user, trip = world.users[0], f"trip-{world.tag}-0"

    generation = {"event_id": event_id(), "user_id": user, "trip_id": trip, "signal_type": "candidate_set_logged",
                  "activity_node_id": None, "model_version": "heuristic-v1", "created_at": at(0, 30).isoformat(),
                  "context": {"candidates": [{"id": n, "score": 1 - i / 10} for i, n in enumerate(world.nodes)],
                              "ranker": "heuristic", "day_part": "morning"}}
    publish_json("candidate-sets", generation).result(timeout=30)
    actions = [
        signal(world, node_index=1, signal_type="slot_view", source="backfill", occurred_at=at(1).isoformat(),
               context={"time_to_action_ms": 300, "day_part": "morning"}),
        signal(world, node_index=2, signal_type="slot_accept", source="backfill", occurred_at=at(2).isoformat(),
               context={"time_to_action_ms": 4100, "day_part": "morning", "day_of_trip": 1}),
        signal(world, node_index=3, signal_type="thumbs_down", source="backfill", occurred_at=at(23, 59).isoformat()),
        signal(world, user_index=1, node_index=4, signal_type="pivot_accept", source="backfill",
               occurred_at=at(12).isoformat()),
        signal(world, node_index=5, source="backfill", occurred_at=(at(0) + timedelta(days=1)).isoformat()),
    ]
    for body in actions:
        user_of = world.users[int(body["trip_id"].rsplit("-", 1)[1])]
        assert post_signals(stack.gateway_url, user_of, body).status_code == 202
    expected_ids = {generation["event_id"]} | {a["event_id"] for a in actions[:4]}

    start, end = day_bounds(day)

    async def db_rows():
        p = await pool()
        return await p.fetch("SELECT * FROM behavioral_signals WHERE created_at >= $1 AND created_at < $2 "
                             "ORDER BY created_at, event_id", start, end)

    wait_for(lambda: {r["event_id"] for r in run(db_rows())} >= expected_ids
             and len(run(db_rows())) == len(expected_ids), 60, "the day's signals in Postgres")

    assert extract(["--date", day.isoformat()]) == 0
    first = storage.read_bytes(BUCKET, part_path(day))
    table = pq.read_table(io.BytesIO(first)).to_pydict()
    rows = run(db_rows())
    candidate_ids = [c["id"] for c in generation["context"]["candidates"]]
    assert table["event_id"] == [r["event_id"] for r in rows]
    assert table["user_id"] == [r["user_id"] for r in rows]
    assert table["item_id"] == [r["activity_node_id"] for r in rows]
    assert table["signal_type"] == [r["signal_type"] for r in rows]
    assert table["weight"] == pytest.approx([r["weight"] for r in rows])
    assert table["created_at"] == [r["created_at"] for r in rows]
    assert table["trip_id"] == [r["trip_id"] for r in rows]
    assert table["model_version"] == [r["model_version"] for r in rows]
    assert table["time_to_action_ms"] == [r["context"].get("time_to_action_ms") for r in rows]
    assert table["day_part"] == [r["context"].get("day_part") for r in rows]
    assert table["positive"] == [r["signal_type"] in ("slot_accept", "thumbs_up", "pivot_accept") for r in rows]
    # the generation and the same trip's actions after it carry the full candidate set; the other user's do not
    assert table["candidates"] == [candidate_ids if r["trip_id"] == trip else [] for r in rows]
    assert sorted({round(w, 3) for w in table["weight"]}) == [0.3, 1.0]

    stale = partition_path(day) + "part-00001.parquet"
    storage.write_bytes(BUCKET, stale, b"left over from an older layout")
    assert extract(["--date", day.isoformat()]) == 0
    assert storage.read_bytes(BUCKET, part_path(day)) == first
    assert storage.list_paths(BUCKET, partition_path(day)) == [part_path(day)]


def test_extract_refuses_a_bad_date(stack, capsys):
    from jobs.nightly_extract.main import main as extract

    with pytest.raises(SystemExit) as exc:
        extract(["--date", "2025-13-01"])
    assert exc.value.code == 2 and "YYYY-MM-DD" in capsys.readouterr().err

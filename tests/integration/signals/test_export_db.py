"""The day's export against Postgres: every row of the day once, in order, each action with its generation's
candidate set; other days and other trips' generations stay out."""
from __future__ import annotations

import io
import random
from datetime import date, datetime, timedelta, timezone

import pyarrow.parquet as pq
import pytest

from shared.engine.events.export import export_day
from shared.engine.events.schema import SignalRecord
from shared.engine.events.sink import insert_signal
from tests.integration.signals.conftest import pool, run

pytestmark = pytest.mark.integration


async def _put(**rec):
    await insert_signal(await pool(), SignalRecord.model_validate(rec))


def test_a_day_exports_with_generations_attached(world):
    day = date(2002, 1, 1) + timedelta(days=random.randrange(3000))
    at = lambda h, m=0: datetime(day.year, day.month, day.day, h, m, tzinfo=timezone.utc)  # noqa: E731
    user, trip = world.users[0], f"trip-{world.tag}-0"
    other_user, other_trip = world.users[1], f"trip-{world.tag}-1"
    gen = lambda i, when, t=trip, u=user, nodes=world.nodes[:4]: run(_put(  # noqa: E731
        event_id=f"gen-{world.tag}-{i}", user_id=u, trip_id=t, signal_type="candidate_set_logged",
        model_version=f"ranker-{i}", created_at=(when).isoformat(),
        context={"candidates": [{"id": n, "score": 1.0} for n in nodes], "ranker": "heuristic", "day_part": "morning"}))
    act = lambda i, kind, when, node, **extra: run(_put(  # noqa: E731
        event_id=f"act-{world.tag}-{i}", user_id=extra.pop("u", user), trip_id=extra.pop("t", trip), signal_type=kind,
        activity_node_id=node, created_at=when.isoformat(), weight=extra.pop("weight", 1.0), **extra))

    gen(1, at(0) - timedelta(hours=2), nodes=world.nodes[:3])  # the previous day: not exported, but attached
    act(1, "slot_view", at(1), world.nodes[0], context={"time_to_action_ms": 900, "day_part": "morning"})
    gen(2, at(5), nodes=world.nodes[2:6])
    act(2, "slot_accept", at(6), world.nodes[2], context={"time_to_action_ms": 1500, "day_part": "afternoon"})
    act(3, "thumbs_down", at(7), world.nodes[1], context={"candidate_set_event_id": f"gen-{world.tag}-1"})
    gen(3, at(8), t=other_trip, u=other_user, nodes=world.nodes[5:6])
    act(4, "slot_skip", at(9), world.nodes[4], t=None, weight=0.3)
    act(5, "pivot_accept", at(23, 59), world.nodes[5], u=other_user, t=other_trip)
    act(6, "slot_view", at(0) + timedelta(days=1), world.nodes[0])  # the next day: not exported

    data, rows = run(export_day(run(pool()), day))
    table = pq.read_table(io.BytesIO(data))
    got = table.to_pydict()
    assert rows == table.num_rows == 7
    assert got["event_id"] == [f"act-{world.tag}-1", f"gen-{world.tag}-2", f"act-{world.tag}-2",
                               f"act-{world.tag}-3", f"gen-{world.tag}-3", f"act-{world.tag}-4", f"act-{world.tag}-5"]
    assert got["candidates"] == [world.nodes[:3], world.nodes[2:6], world.nodes[2:6], world.nodes[:3],
                                 world.nodes[5:6], [], world.nodes[5:6]]
    assert got["positive"] == [False, False, True, False, False, False, True]
    assert got["item_id"][1] is None and got["item_id"][2] == world.nodes[2]
    assert got["time_to_action_ms"][:3] == [900, None, 1500]
    assert got["day_part"][:3] == ["morning", "morning", "afternoon"]
    assert got["model_version"][1] == "ranker-2"
    assert [round(w, 3) for w in got["weight"]] == [1.0, 1.0, 1.0, 1.0, 1.0, 0.3, 1.0]
    assert run(export_day(run(pool()), day))[0] == data  # same rows, same bytes


def test_an_empty_day_still_has_a_file(pg_dsn):
    data, rows = run(export_day(run(pool()), date(1999, 1, 1)))
    assert rows == 0 and pq.read_table(io.BytesIO(data)).num_rows == 0

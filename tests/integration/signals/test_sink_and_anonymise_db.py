"""The sink's insert and the anonymising deletion against the embedded Postgres."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from shared.engine.events.anonymise import anonymise_user, pseudonym
from shared.engine.events.schema import SignalRecord
from shared.engine.events.sink import insert_signal
from tests.integration.signals.conftest import pool, run, signal_count, signal_rows

pytestmark = pytest.mark.integration
T0 = datetime(2025, 6, 1, 9, 0, tzinfo=timezone.utc)


def record(world, i, **over):
    base = {"event_id": f"evt-{world.tag}-{i}", "user_id": world.users[0], "signal_type": "slot_accept",
            "activity_node_id": world.nodes[0], "trip_id": f"trip-{world.tag}-0",
            "context": {"time_to_action_ms": 100 + i, "slot_id": "slot-1", "candidate_set_event_id": f"gen-{world.tag}"},
            "weight": 1.0, "created_at": T0.isoformat()}
    base.update(over)
    return SignalRecord.model_validate(base)


async def _insert(rec, default_time=None):
    return await insert_signal(await pool(), rec, default_time=default_time)


def test_duplicates_are_stored_once_and_counted_once(world):
    rec = record(world, 1)
    first = run(_insert(rec))
    again = run(_insert(rec))
    assert first.inserted and first.counted and not again.inserted and not again.counted
    assert len(run(signal_rows("event_id = $1", rec.event_id))) == 1
    assert run(signal_count(world.users[0])) == 1


def test_concurrent_redeliveries_insert_one_row(world):
    rec = record(world, 2)

    async def burst():
        return await asyncio.gather(*[_insert(rec) for _ in range(8)])

    outcomes = run(burst())
    assert sum(o.inserted for o in outcomes) == 1
    assert run(signal_count(world.users[0])) == 1


def test_candidate_sets_are_stored_but_not_counted(world):
    rec = record(world, 3, signal_type="candidate_set_logged", activity_node_id=None, created_at=None, weight=1.0,
                 context={"candidates": [{"id": n, "score": 1.0 - i / 10} for i, n in enumerate(world.nodes)],
                          "ranker": "heuristic", "day_part": "morning"})
    out = run(_insert(rec, default_time=T0))
    assert out.inserted and not out.counted
    row = run(signal_rows("event_id = $1", rec.event_id))[0]
    assert row["created_at"] == T0 and row["weight"] == 1.0
    assert row["context"]["ranker"] == "heuristic" and len(row["context"]["candidates"]) == len(world.nodes)
    assert run(signal_count(world.users[0])) == 0


def test_the_twentieth_signal_makes_a_user_warm(world):
    from shared.engine.events import is_warm

    for i in range(19):
        run(_insert(record(world, 100 + i)))
    assert not is_warm(run(signal_count(world.users[0])))
    run(_insert(record(world, 119)))
    run(_insert(record(world, 119)))  # a redelivery does not tip anyone over
    assert run(signal_count(world.users[0])) == 20 and is_warm(20)


def test_deletion_anonymises_signals_and_deletes_personal_data(world):
    user, other = world.users[0], world.users[1]
    for i in range(3):
        run(_insert(record(world, 200 + i)))
    run(_insert(record(world, 300, user_id=other, trip_id=f"trip-{world.tag}-1")))
    before = run(signal_rows("event_id LIKE $1", f"evt-{world.tag}-%"))

    result = run(anonymise_user(run(pool()), user))
    assert result.user_deleted and result.trips_deleted == 1 and result.signals_rekeyed == 3

    async def leftovers():
        p = await pool()
        return (await p.fetchval("SELECT count(*) FROM users WHERE id = $1", user),
                await p.fetchval("SELECT count(*) FROM trips WHERE user_id = $1", user),
                await p.fetchval("SELECT count(*) FROM behavioral_signals WHERE user_id = $1", user))

    assert run(leftovers()) == (0, 0, 0)
    after = run(signal_rows("user_id = $1", result.pseudonym))
    assert len(after) == 3
    for row in after:
        assert row["event_id"].startswith("anon-e-") and row["trip_id"].startswith("anon-t-")
        assert "slot_id" not in row["context"] and row["context"]["candidate_set_event_id"].startswith("anon-e-")
        assert row["context"]["time_to_action_ms"] >= 100  # the training content is intact
    # the training data is complete: same number of rows, same items and weights; the other user untouched
    assert sorted((r["activity_node_id"], r["weight"]) for r in after) == \
        sorted((r["activity_node_id"], r["weight"]) for r in before if r["user_id"] == user)
    assert len(run(signal_rows("user_id = $1", other))) == 1
    assert run(signal_count(other)) == 1

    again = run(anonymise_user(run(pool()), user))
    assert not again.user_deleted and again.signals_rekeyed == 0 and again.pseudonym == result.pseudonym


def test_a_late_signal_of_a_deleted_user_is_stored_anonymised_and_deduplicated(world):
    user = world.users[2]
    early = record(world, 400, user_id=user, trip_id=f"trip-{world.tag}-2")
    run(_insert(early))
    run(anonymise_user(run(pool()), user))
    # the same event redelivered after the deletion, and a new one still in flight
    assert not run(_insert(early)).inserted
    late = record(world, 401, user_id=user, trip_id=f"trip-{world.tag}-2")
    out = run(_insert(late))
    assert out.inserted and out.anonymised and not out.counted
    rows = run(signal_rows("user_id = $1", pseudonym("u", user)))
    assert len(rows) == 2 and len({r["trip_id"] for r in rows}) == 1
    assert not run(signal_rows("user_id = $1", user))


def test_a_signal_of_a_never_seen_user_is_kept_as_sent(world):
    rec = record(world, 500, user_id=f"ghost-{world.tag}", trip_id=None)
    out = run(_insert(rec))
    assert out.inserted and not out.counted and not out.anonymised

"""Schema and rules of a client signal: what is accepted, and that every refusal names the field."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.engine.events import BACKFILL_WEIGHT, IN_APP_WEIGHT, WARM_THRESHOLD, is_warm, weight_for
from shared.engine.events.schema import SignalIn
from shared.engine.events.validation import ItemError, duplicate_event_ids, parse_signal, to_record

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
CALLER = "user-1"


def ok(**over):
    base = {"signal_type": "slot_accept", "activity_node_id": "node-1", "trip_id": "trip-1",
            "context": {"time_to_action_ms": 1500, "day_of_trip": 2, "day_part": "evening", "group_size": 2,
                        "candidates": [{"id": "node-1", "score": 0.9}, {"id": "node-2"}]}}
    base.update(over)
    return base


def test_a_well_formed_signal_parses_and_normalises():
    sig = parse_signal(ok(event_id="evt-0123456789abcdef"), CALLER, NOW)
    assert isinstance(sig, SignalIn)
    rec = to_record(sig, CALLER, NOW)
    assert rec["event_id"] == "evt-0123456789abcdef"
    assert rec["user_id"] == CALLER and rec["weight"] == IN_APP_WEIGHT
    assert rec["created_at"] == NOW.isoformat()
    assert rec["context"]["candidates"] == [{"id": "node-1", "score": 0.9}, {"id": "node-2"}]


def test_the_server_assigns_event_ids_and_weights():
    a = to_record(parse_signal(ok(), CALLER, NOW), CALLER, NOW)
    b = to_record(parse_signal(ok(source="backfill"), CALLER, NOW), CALLER, NOW)
    assert a["event_id"] != b["event_id"] and len(a["event_id"]) == 36
    assert b["weight"] == BACKFILL_WEIGHT == 0.3 and weight_for("in_app") == 1.0


@pytest.mark.parametrize("raw, field", [
    (ok(signal_type="slot_like"), "signal_type"),
    (ok(signal_type=3), "signal_type"),
    (ok(activity_node_id=42), "activity_node_id"),
    (ok(activity_node_id=""), "activity_node_id"),
    (ok(activity_node_id="a\x00b"), "activity_node_id"),
    (ok(context={"time_to_action_ms": "fast"}), "context.time_to_action_ms"),
    (ok(context={"time_to_action_ms": 12.5}), "context.time_to_action_ms"),
    (ok(context={"time_to_action_ms": True}), "context.time_to_action_ms"),
    (ok(context={"time_to_action_ms": -1}), "context.time_to_action_ms"),
    (ok(context={"time_to_action_ms": 86_400_001}), "context.time_to_action_ms"),
    (ok(context={"day_part": "midnight"}), "context.day_part"),
    (ok(context={"day_of_trip": 0}), "context.day_of_trip"),
    (ok(context={"group_size": "2"}), "context.group_size"),
    (ok(context={"mood": "happy"}), "context.mood"),
    (ok(context={"candidates": [{"id": "a", "rank": 1}]}), "context.candidates[0].rank"),
    (ok(context={"candidates": [{"id": f"n{i}"} for i in range(501)]}), "context.candidates"),
    (ok(context=[]), "context"),
    (ok(weight=5.0), "weight"),
    (ok(event_id="short"), "event_id"),
    (ok(event_id="anon-e-0123456789abcdef"), "event_id"),
    (ok(signal_type="candidate_set_logged", activity_node_id=None), "signal_type"),
    (ok(activity_node_id=None), "activity_node_id"),
    (ok(source="scraped"), "source"),
    (ok(occurred_at="2025-06-01T10:00:00"), "occurred_at"),
    (ok(occurred_at=(NOW + timedelta(hours=1)).isoformat()), "occurred_at"),
    (ok(occurred_at=(NOW - timedelta(days=8)).isoformat()), "occurred_at"),
    (ok(model_version="x" * 200), "model_version"),
    ("not an object", "body"),
])
def test_malformed_signals_are_refused_naming_the_field(raw, field):
    err = parse_signal(raw, CALLER, NOW)
    assert isinstance(err, ItemError), err
    assert err.status == 400 and err.field == field, err
    assert err.message.startswith(field)


def test_batch_items_are_named_by_position():
    err = parse_signal(ok(context={"day_part": "noon"}), CALLER, NOW, "signals[7]")
    assert err.field == "signals[7].context.day_part"


def test_backfilled_signals_may_be_old():
    sig = parse_signal(ok(source="backfill", occurred_at=(NOW - timedelta(days=400)).isoformat()), CALLER, NOW)
    assert isinstance(sig, SignalIn)
    assert to_record(sig, CALLER, NOW)["created_at"].startswith("2024-")


def test_a_signal_for_another_user_is_forbidden():
    err = parse_signal(ok(user_id="someone-else"), CALLER, NOW)
    assert err.status == 403 and err.field == "user_id"
    assert isinstance(parse_signal(ok(user_id=CALLER), CALLER, NOW), SignalIn)


def test_repeated_event_ids_in_a_batch_refuse_the_later_copies():
    items = [(i, parse_signal(ok(event_id=e), CALLER, NOW)) for i, e in
             enumerate(["evt-aaaaaaaaaaaaaaaa", "evt-bbbbbbbbbbbbbbbb", "evt-aaaaaaaaaaaaaaaa"])]
    errors = duplicate_event_ids(items, lambda i: f"signals[{i}]")
    assert list(errors) == [2] and errors[2].field == "signals[2].event_id"


def test_cold_warm_boundary():
    assert WARM_THRESHOLD == 20
    assert not is_warm(0) and not is_warm(None) and not is_warm(19)
    assert is_warm(20) and is_warm(21)

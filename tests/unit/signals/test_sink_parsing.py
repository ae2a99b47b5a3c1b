"""What the sink treats as poison, and that the trips function's candidate-set payload is not poison."""
from __future__ import annotations

import base64
import json

import pytest

from functions.signal_sink.main import _publish_time
from shared.api.push_consumer import Poison, decode
from shared.api.push_consumer import raw_data as _raw_data
from shared.engine.events.schema import SignalRecord


def _parse(msg: dict) -> SignalRecord:
    return decode(msg, SignalRecord)


def message(payload) -> dict:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return {"data": base64.b64encode(raw).decode(), "messageId": "1", "publishTime": "2025-06-01T08:00:00.5Z"}


def test_the_trips_candidate_set_payload_is_a_valid_record():
    payload = {  # the shape shared.domains.travel.trips.planner.publish_candidate_set sends
        "event_id": "cs_0123", "user_id": "u1", "trip_id": "t1", "signal_type": "candidate_set_logged",
        "activity_node_id": None,
        "context": {"candidates": [{"id": f"n{i}", "score": 1 - i / 200} for i in range(200)], "ranker": "heuristic",
                    "served_by": "heuristic", "archetype": None, "cache_hit": False, "day_part": None,
                    "day_of_trip": None, "days": 3, "group_size": 1, "city_id": "seattle", "fallback_reason": None},
        "model_version": "heuristic-v1",
    }
    rec = _parse(message(payload))
    assert isinstance(rec, SignalRecord) and rec.weight == 1.0 and rec.created_at is None
    stored = rec.context_json()
    assert len(stored["candidates"]) == 200 and stored["ranker"] == "heuristic" and "day_part" not in stored


@pytest.mark.parametrize("msg, reason", [
    ({"data": "%%% not base64", "messageId": "1"}, "undecodable"),
    ({"messageId": "1"}, "undecodable"),
    (message(b"\xff\xfe not utf-8"), "undecodable"),
    (message(b"{not json"), "undecodable"),
    (message([1, 2]), "schema_invalid"),
    (message({"event_id": "e", "user_id": "u", "signal_type": "slot_love"}), "schema_invalid"),
    (message({"event_id": "e", "signal_type": "slot_view"}), "schema_invalid"),
    (message({"event_id": "e", "user_id": "u", "signal_type": "slot_view", "weight": 0}), "schema_invalid"),
    (message({"event_id": "e", "user_id": "u", "signal_type": "slot_view",
              "context": {"time_to_action_ms": -3}}), "schema_invalid"),
])
def test_poison_is_classified(msg, reason):
    with pytest.raises(Poison) as exc:
        _parse(msg)
    assert exc.value.reason == reason


def test_dead_letters_keep_the_original_bytes():
    assert _raw_data(message(b"\x00raw")) == b"\x00raw"
    assert _raw_data({"data": "%%%"}) == b"%%%"


def test_publish_time_dates_records_without_one():
    assert _publish_time(message({})).isoformat() == "2025-06-01T08:00:00.500000+00:00"
    assert _publish_time({"publishTime": "yesterday"}) is None

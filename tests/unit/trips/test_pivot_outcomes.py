"""Pivot events become proposals with the traveller, slot and venue they are about; silence becomes one
pivot_ignore signal per proposal, whatever the number of deliveries."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from shared.domains.errors import InvalidRequest
from shared.domains.travel.trips.pivot_outcomes import ignore_record, proposals, task_id
from shared.engine.events.schema import SignalRecord

AT = datetime(2031, 6, 1, 12, 0, tzinfo=timezone.utc)


def _event(**over) -> dict:
    slot = {"slot_id": "s-1", "day": 2, "day_part": "afternoon", "venue": {"id": "v-9"}, "pivot_id": "17"}
    return {"event": "pivot", "trip_id": "t-1", "user_id": "u-1", "type": "weather", "served_by": "precomputed_fallback",
            "changed": [slot, {**slot, "slot_id": "s-2", "venue": {"id": "v-3"}, "pivot_id": "18"}], **over}


def test_a_pivot_event_gives_one_proposal_per_changed_slot():
    found = proposals(_event(), AT)
    assert [(p.pivot_id, p.slot_id, p.activity_node_id, p.day_of_trip) for p in found] == [
        ("17", "s-1", "v-9", 2), ("18", "s-2", "v-3", 2)]
    assert {p.user_id for p in found} == {"u-1"} and found[0].pivot_type == "weather"


def test_a_swap_proposes_nothing():
    assert proposals({"event": "swap", "trip_id": "t-1", "user_id": "u-1", "changed": [{}]}, AT) == []


@pytest.mark.parametrize("event, field", [
    ("not an object", "message.data"),
    (_event(changed=[{"slot_id": "s-1"}]), "changed[0]"),
    (_event(user_id=None), "changed[0].user_id"),
    (_event(changed=[{"slot_id": "s-1", "day": 1, "venue": {"id": "v"}, "pivot_id": "x"}]), "changed[0].pivot_id"),
])
def test_a_malformed_pivot_event_names_its_field(event, field):
    with pytest.raises(InvalidRequest) as err:
        proposals(event, AT)
    assert err.value.field == field


def test_ignoring_is_one_signal_per_proposal():
    first, second = proposals(_event(), AT)
    a, again = ignore_record(first, AT), ignore_record(first, datetime.now(timezone.utc))
    assert a["event_id"] == again["event_id"] != ignore_record(second, AT)["event_id"]
    assert task_id(first) == task_id(proposals(_event(), AT)[0]) != task_id(second)
    rec = SignalRecord.model_validate(a)  # what the sink will read
    assert rec.signal_type == "pivot_ignore" and rec.activity_node_id == "v-9" and rec.trip_id == "t-1"
    assert a["context"] == {"pivot_id": "17", "slot_id": "s-1", "day_of_trip": 2, "day_part": "afternoon"}

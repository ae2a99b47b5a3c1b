"""Every pivot a traveller is shown becomes a signal: two venue_closed pivots through the gateway, the traveller
accepts the first through POST /v1/signals and says nothing about the second. The pivots topic's consumer
schedules one outcome task per proposal on the real Cloud Tasks emulator; run at their time (here by hand, as
the queue would in two hours), the accepted one stays accepted and the unanswered one becomes exactly one
pivot_ignore row in behavioral_signals, however often the task is delivered."""
from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest

from tests.e2e.conftest import fetch as _fetch

pytestmark = pytest.mark.e2e
TRIP = {"city": "Seattle", "start_date": "2031-07-07", "end_date": "2031-07-08",
        "tags": {"interests": ["museums"], "pace": "moderate"}}


def _auth(user: str) -> dict:
    return {"Authorization": f"Bearer {user}"}


def _wait(what: str, probe, timeout_s: float = 45):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def _queued_outcomes(pivot_ids: set[str]) -> dict[str, dict]:
    """The pivot-outcomes queue's tasks for these pivots: pivot id -> the body the queue will POST."""
    from google.cloud import tasks_v2

    from shared.adapters import tasks

    listed = tasks._client().list_tasks(request={"parent": tasks.queue_path("pivot-outcomes"),
                                                 "response_view": tasks_v2.Task.View.FULL})
    bodies = [json.loads(t.http_request.body) for t in listed]
    return {b["pivot_id"]: b for b in bodies if b["pivot_id"] in pivot_ids}


def test_pivots_are_accepted_or_ignored_and_both_reach_the_signals(seattle):
    user = f"e2e-pivot-{uuid.uuid4().hex[:8]}"
    dsn = seattle.env["DATABASE_URL"]
    with httpx.Client(base_url=seattle.gateway_url, timeout=60) as client:
        trip = client.post("/v1/trips", json=TRIP, headers=_auth(user))
        assert trip.status_code == 201, trip.text
        body = trip.json()
        shown = []
        for day in body["days"][:2]:
            piv = client.post(f"/v1/trips/{body['trip_id']}/pivot", headers=_auth(user),
                              json={"type": "venue_closed", "slot_id": day["slots"][0]["slot_id"]})
            assert piv.status_code == 200, piv.text
            changed = piv.json()["changed"][0]
            assert changed["pivot_id"].isdigit() and changed["day"] == day["day"]
            shown.append(changed)
        accepted, unanswered = shown
        answer = client.post("/v1/signals", headers=_auth(user), json={
            "signal_type": "pivot_accept", "trip_id": body["trip_id"], "activity_node_id": accepted["venue"]["id"],
            "context": {"pivot_id": accepted["pivot_id"], "slot_id": accepted["slot_id"], "time_to_action_ms": 4200}})
        assert answer.status_code == 202, answer.text

    ids = {accepted["pivot_id"], unanswered["pivot_id"]}
    queued = _wait("both outcome tasks on the pivot-outcomes queue",
                   lambda: (q := _queued_outcomes(ids)) and len(q) == 2 and q)
    assert queued[unanswered["pivot_id"]]["activity_node_id"] == unanswered["venue"]["id"]
    assert queued[unanswered["pivot_id"]]["user_id"] == user
    _wait("the pivot_accept row", lambda: asyncio.run(_fetch(
        dsn, "SELECT 1 FROM behavioral_signals WHERE trip_id = $1 AND signal_type = 'pivot_accept'", body["trip_id"])))

    resolve = seattle.function_url("pivot_outcomes") + "/tasks/resolve"
    with httpx.Client(timeout=30) as queue:  # what Cloud Tasks POSTs when the tasks fall due
        first = queue.post(resolve, json=queued[accepted["pivot_id"]])
        assert first.status_code == 200 and first.json()["status"] == "accepted", first.text
        for _ in range(2):  # a redelivered task
            second = queue.post(resolve, json=queued[unanswered["pivot_id"]])
            assert second.status_code == 200 and second.json()["status"] == "ignored", second.text
        bad = queue.post(resolve, json={**queued[unanswered["pivot_id"]], "pivot_id": "seventeen"})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "pivot_id", bad.text

    rows = _wait("the pivot_ignore row", lambda: asyncio.run(_fetch(
        dsn, "SELECT activity_node_id, context, user_id FROM behavioral_signals"
             " WHERE trip_id = $1 AND signal_type = 'pivot_ignore'", body["trip_id"])))
    time.sleep(1.0)  # a second row, had the redelivery made one, would have landed by now
    rows = asyncio.run(_fetch(dsn, "SELECT activity_node_id, context, user_id FROM behavioral_signals"
                                   " WHERE trip_id = $1 AND signal_type = 'pivot_ignore'", body["trip_id"]))
    assert [(r["activity_node_id"], r["context"]["pivot_id"], r["user_id"]) for r in rows] == [
        (unanswered["venue"]["id"], unanswered["pivot_id"], user)]
    assert rows[0]["context"]["day_of_trip"] == 2

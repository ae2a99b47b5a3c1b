"""The signal path end to end on the local stack: gateway -> signals function -> Pub/Sub -> signal sink -> Postgres,
plus deletion through the gateway and the dead-letter topic with its replay command."""
from __future__ import annotations

import base64
import json
import time
import uuid

import httpx
import pytest

from tests.integration.signals.conftest import make_world, pool, run, signal_count, signal_rows
from tests.integration.signals.stack_helpers import auth, event_id, post_signals, signal, userinfo, wait_for

pytestmark = pytest.mark.integration


def rows_for(event_ids):
    return run(signal_rows("event_id = ANY($1::text[])", list(event_ids)))


def wait_rows(event_ids, timeout=60.0):
    ids = list(event_ids)

    def all_there():
        rows = rows_for(ids)
        return rows if len(rows) == len(ids) else None

    return wait_for(all_there, timeout, f"{len(ids)} signals in Postgres")


def test_one_signal_is_accepted_then_stored_once_even_when_retried(stack):
    world = make_world()
    user = world.users[0]
    body = signal(world, context={"time_to_action_ms": 800, "day_part": "evening", "group_size": 2,
                                  "candidates": [{"id": world.nodes[0], "score": 0.8}, {"id": world.nodes[1]}]})
    first = post_signals(stack.gateway_url, user, body)
    assert first.status_code == 202, first.text
    assert first.json() == {"event_id": body["event_id"], "status": "accepted", "weight": 1.0}
    retry = post_signals(stack.gateway_url, user, body)  # e.g. the client never saw the first answer
    assert retry.status_code == 202 and retry.json()["event_id"] == body["event_id"]
    row = wait_rows([body["event_id"]])[0]
    assert row["user_id"] == user and row["weight"] == 1.0 and row["signal_type"] == "slot_accept"
    assert row["context"]["time_to_action_ms"] == 800 and len(row["context"]["candidates"]) == 2
    time.sleep(1.0)  # give the retry's message time to arrive too
    assert len(rows_for([body["event_id"]])) == 1 and run(signal_count(user)) == 1

    assigned = post_signals(stack.gateway_url, user, signal(world, event_id=None, source="backfill"))
    assert assigned.status_code == 202 and assigned.json()["weight"] == 0.3
    assert len(assigned.json()["event_id"]) == 36
    wait_rows([assigned.json()["event_id"]])


def test_a_batch_reports_each_item_and_stores_only_the_accepted(stack):
    world = make_world()
    good = [signal(world, node_index=i) for i in range(3)]
    bad = signal(world, context={"time_to_action_ms": -5})
    resp = post_signals(stack.gateway_url, world.users[0], {"signals": [good[0], bad, good[1], good[2]]})
    assert resp.status_code == 207, resp.text
    body = resp.json()
    assert body["accepted"] == 3 and body["rejected"] == 1
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted", "accepted"]
    assert body["results"][1]["error"]["field"] == "signals[1].context.time_to_action_ms"
    assert body["results"][1]["event_id"] == bad["event_id"]
    wait_rows([g["event_id"] for g in good])
    all_ok = post_signals(stack.gateway_url, world.users[1], {"signals": [signal(world, 1)]})
    assert all_ok.status_code == 202 and all_ok.json()["accepted"] == 1
    time.sleep(1.0)
    assert rows_for([bad["event_id"]]) == []


def _malformed_cases(world):
    me, other = world.users[0], world.users[1]
    ok = lambda **over: signal(world, **over)  # noqa: E731
    return [
        # (name, user, body or raw bytes, expected status, expected field)
        ("bad json", me, b'{"signal_type": "slot_view",', 400, "body"),
        ("empty body", me, b"", 400, "body"),
        ("json array", me, [ok()], 400, "body"),
        ("json string", me, "slot_view", 400, "body"),
        ("unknown signal type", me, ok(signal_type="slot_love"), 400, "signal_type"),
        ("signal type wrong type", me, ok(signal_type=["slot_view"]), 400, "signal_type"),
        ("node id wrong type", me, ok(activity_node_id=123), 400, "activity_node_id"),
        ("time_to_action as string", me, ok(context={"time_to_action_ms": "1200"}), 400, "context.time_to_action_ms"),
        ("time_to_action out of range", me, ok(context={"time_to_action_ms": 10**12}), 400,
         "context.time_to_action_ms"),
        ("unknown context key", me, ok(context={"secret": 1}), 400, "context.secret"),
        ("bad day part", me, ok(context={"day_part": "brunch"}), 400, "context.day_part"),
        ("candidates not a list", me, ok(context={"candidates": "a,b"}), 400, "context.candidates"),
        ("client-set weight", me, ok(weight=100), 400, "weight"),
        ("server-only type", me, ok(signal_type="candidate_set_logged", activity_node_id=None), 400, "signal_type"),
        ("missing node", me, ok(activity_node_id=None), 400, "activity_node_id"),
        ("unknown node id", me, ok(activity_node_id=f"node-{uuid.uuid4().hex}"), 404, "activity_node_id"),
        ("unknown trip id", me, ok(trip_id=f"trip-{uuid.uuid4().hex}"), 404, "trip_id"),
        ("another user's trip", me, ok(trip_id=f"trip-{world.tag}-1"), 403, "trip_id"),
        ("signal for another user", me, ok(user_id=other), 403, "user_id"),
        ("unknown user", f"nobody-{uuid.uuid4().hex[:8]}", ok(trip_id=None), 404, "user_id"),
        ("oversize batch", me, {"signals": [ok() for _ in range(501)]}, 413, "signals"),
        ("empty batch", me, {"signals": []}, 400, "signals"),
        ("batch not a list", me, {"signals": {"0": ok()}}, 400, "signals"),
        ("extra key next to batch", me, {"signals": [ok()], "force": True}, 400, "force"),
        ("batch all invalid", me, {"signals": [ok(signal_type="nope"), 7]}, 400, "signals[0].signal_type"),
        ("missing identity", None, ok(), 401, "Authorization"),
    ]


def test_malformed_input_gets_4xx_everywhere_and_writes_nothing(stack):
    world = make_world()
    failures = []
    with httpx.Client(timeout=60) as client:
        for name, user, body, status, field in _malformed_cases(world):
            if isinstance(body, bytes):
                resp = post_signals(stack.gateway_url, user, content=body, client=client)
            else:
                resp = post_signals(stack.gateway_url, user, body, client=client)
            got_field = (resp.json().get("error") or {}).get("field") if resp.headers.get(
                "content-type", "").startswith("application/json") else None
            if resp.status_code != status or not (got_field or "").startswith(field):
                failures.append(f"{name}: {resp.status_code} {resp.text[:200]}")
        # straight at the function, a request without the gateway's identity header is refused too
        direct = client.post(f"{stack.function_url('signals')}/v1/signals", json=signal(world))
        if direct.status_code != 401:
            failures.append(f"direct without identity: {direct.status_code}")
        forged = client.post(f"{stack.function_url('signals')}/v1/signals", json=signal(world),
                             headers={"X-Apigateway-Api-Userinfo": "%%%not-base64"})
        if forged.status_code != 401:
            failures.append(f"unreadable identity: {forged.status_code}")
    assert failures == []

    # A valid sentinel sent last: once it is stored, anything published before it has had its chance to arrive.
    sentinel = signal(world)
    assert post_signals(stack.gateway_url, world.users[0], sentinel).status_code == 202
    wait_rows([sentinel["event_id"]])
    time.sleep(1.5)

    async def world_rows():
        p = await pool()
        return await p.fetch("SELECT event_id FROM behavioral_signals WHERE user_id = ANY($1::text[]) "
                             "OR activity_node_id = ANY($2::text[])", world.users, world.nodes)

    assert [r["event_id"] for r in run(world_rows())] == [sentinel["event_id"]]
    assert run(signal_count(world.users[0])) == 1


def test_delete_me_anonymises_through_the_gateway(stack):
    from shared.engine.events.anonymise import pseudonym

    world = make_world()
    user = world.users[0]
    sent = [signal(world, node_index=i) for i in range(3)]
    assert post_signals(stack.gateway_url, user, {"signals": sent}).status_code == 202
    wait_rows([s["event_id"] for s in sent])

    assert httpx.delete(f"{stack.gateway_url}/v1/users/me", timeout=30).status_code == 401
    resp = httpx.delete(f"{stack.gateway_url}/v1/users/me", headers=auth(user), timeout=30)
    assert resp.status_code == 204, resp.text
    assert run(signal_rows("user_id = $1", user)) == []
    kept = run(signal_rows("user_id = $1", pseudonym("u", user)))
    assert len(kept) == 3 and {r["activity_node_id"] for r in kept} == set(world.nodes[:3])
    assert httpx.delete(f"{stack.gateway_url}/v1/users/me", headers=auth(user), timeout=30).status_code == 204
    # the deleted user can no longer record signals (their user row and trip are gone)
    late = post_signals(stack.gateway_url, user, signal(world))
    assert late.status_code == 404


class DeadLetterObserver:
    """A private subscription on the dead-letter topic: the test watches arrivals there and acks its own copies,
    leaving the hold subscription to the replay command alone (each listing nacks, and the hold's retry policy
    then delays redelivery more each time)."""

    def __init__(self, project: str):
        from google.cloud import pubsub_v1

        from shared.adapters.pubsub import topic_path
        from shared.engine.events.deadletter import DEAD_LETTER_TOPIC

        self.subscriber = pubsub_v1.SubscriberClient()
        self.path = self.subscriber.subscription_path(project, f"dlq-observer-{uuid.uuid4().hex[:8]}")
        self.subscriber.create_subscription(request={"name": self.path, "topic": topic_path(DEAD_LETTER_TOPIC)})
        self.seen: list[dict] = []

    def poll(self) -> list[dict]:
        from jobs.replay_dead_letters.main import describe, pull_all

        got = pull_all(self.subscriber, self.path, 1000, patient=False)
        if got:
            self.subscriber.acknowledge(request={"subscription": self.path, "ack_ids": [m.ack_id for m in got]})
        self.seen += [describe(m) for m in got]
        return self.seen

    def wait(self, predicate, timeout: float, what: str) -> list[dict]:
        return wait_for(lambda: (lambda seen: seen if predicate(seen) else None)(self.poll()), timeout, what, 1.0)

    def close(self) -> None:
        self.subscriber.delete_subscription(request={"subscription": self.path})


def test_poison_goes_to_the_dead_letter_topic_and_can_be_replayed(stack, capsys):
    from jobs.replay_dead_letters.main import main as replay
    from shared.adapters.pubsub import publish_json
    from shared.engine.events.deadletter import DEAD_LETTER_TOPIC, publish_raw

    world = make_world()
    observer = DeadLetterObserver(stack.project)
    try:
        poison_id = event_id()
        # schema-invalid (time_to_action_ms negative) and undecodable (not JSON) messages, straight onto the topics
        publish_json("signals", {"event_id": poison_id, "user_id": world.users[0], "signal_type": "slot_view",
                                 "activity_node_id": world.nodes[0], "context": {"time_to_action_ms": -1}},
                     event_id=poison_id).result(timeout=30)
        publish_raw("candidate-sets", b"\x00not json", {"event_id": poison_id + "-raw"})

        def ours(seen, ids):
            return [m for m in seen if m["event_id"] in ids]

        seen = observer.wait(lambda s: len(ours(s, {poison_id, poison_id + "-raw"})) == 2, 90,
                             "both poison messages on signals-dead-letter")
        by_event = {m["event_id"]: m for m in ours(seen, {poison_id, poison_id + "-raw"})}
        assert by_event[poison_id]["reason"] == "schema_invalid"
        assert "time_to_action_ms" in by_event[poison_id]["error"]
        assert by_event[poison_id]["source_subscription"] == "signals-to-sink"
        assert by_event[poison_id]["attempts"] == "5"
        assert by_event[poison_id + "-raw"]["reason"] == "undecodable"
        assert by_event[poison_id + "-raw"]["source_subscription"] == "candidate-sets-to-sink"
        assert rows_for([poison_id]) == []

        # A good message dead-lettered during an outage (as Pub/Sub's own policy does): replay brings it home.
        good = {"event_id": event_id(), "user_id": world.users[1], "signal_type": "thumbs_up",
                "activity_node_id": world.nodes[1], "trip_id": f"trip-{world.tag}-1", "weight": 1.0, "context": {}}
        publish_raw(DEAD_LETTER_TOPIC, json.dumps(good).encode(),
                    {"event_id": good["event_id"], "CloudPubSubDeadLetterSourceSubscription": "signals-to-sink",
                     "CloudPubSubDeadLetterSourceDeliveryCount": "5"})
        observer.wait(lambda s: ours(s, {good["event_id"]}), 30, "the outage dead letter")

        assert replay(["--list"]) == 0
        listed = capsys.readouterr().out
        assert poison_id in listed and good["event_id"] in listed
        assert replay(["--replay", "--ack"]) == 0
        assert "failed 0" in capsys.readouterr().out
        row = wait_rows([good["event_id"]])[0]
        assert row["signal_type"] == "thumbs_up" and run(signal_count(world.users[1])) == 1
        # the replayed poison is still poison: it dead-letters again rather than looping forever
        observer.wait(lambda s: len(ours(s, {poison_id})) == 2, 90, "the replayed poison dead-lettered again")
        assert rows_for([poison_id]) == []
    finally:
        observer.close()
        _drop_from_hold(stack.project, lambda m: (m["event_id"] or "").startswith(poison_id))


def _drop_from_hold(project: str, predicate) -> None:
    """Ack our test's dead letters on the hold subscription, so later tests start from a clean hold."""
    from jobs.replay_dead_letters.main import _release, _subscriber, describe, pull_all
    from shared.engine.events.deadletter import DEAD_LETTER_HOLD

    sub = _subscriber()
    path = sub.subscription_path(project, DEAD_LETTER_HOLD)
    got = pull_all(sub, path, 1000)
    drop = [m.ack_id for m in got if predicate(describe(m))]
    if drop:
        sub.acknowledge(request={"subscription": path, "ack_ids": drop})
    _release(sub, path, [m.ack_id for m in got if m.ack_id not in drop])


def test_the_sink_refuses_what_is_not_a_push_envelope(stack):
    url = stack.function_url("signal_sink") + "/"
    assert httpx.post(url, content=b"nope", timeout=10).status_code == 400
    assert httpx.post(url, json={"data": "x"}, timeout=10).status_code == 400


def test_the_sink_acks_a_candidate_set_from_the_trips_function(stack):
    world = make_world()
    cs = {"event_id": event_id(), "user_id": world.users[0], "trip_id": f"trip-{world.tag}-0",
          "signal_type": "candidate_set_logged", "activity_node_id": None, "model_version": "heuristic-v1",
          "context": {"candidates": [{"id": n, "score": 0.5} for n in world.nodes], "ranker": "heuristic",
                      "day_part": "morning", "request_id": "r-1"}}
    envelope = {"message": {"data": base64.b64encode(json.dumps(cs).encode()).decode(), "messageId": "m-" + cs["event_id"],
                            "attributes": {}, "publishTime": "2025-06-01T08:00:00.123Z"},
                "subscription": "projects/concierge-local/subscriptions/candidate-sets-to-sink"}
    url = stack.function_url("signal_sink") + "/"
    first = httpx.post(url, json=envelope, timeout=30)
    again = httpx.post(url, json=envelope, timeout=30)
    assert first.status_code == again.status_code == 204
    assert first.headers["X-Signal-Outcome"] == "inserted" and again.headers["X-Signal-Outcome"] == "duplicate"
    row = rows_for([cs["event_id"]])[0]
    assert row["weight"] == 1.0 and row["model_version"] == "heuristic-v1"
    assert row["created_at"].isoformat() == "2025-06-01T08:00:00.123000+00:00"
    assert row["context"]["request_id"] == "r-1" and len(row["context"]["candidates"]) == len(world.nodes)
    assert run(signal_count(world.users[0])) == 0


def test_identity_header_is_the_only_identity(stack):
    """Straight at the function (as the gateway calls it): the header decides who the caller is."""
    world = make_world()
    body = signal(world, user_index=1)
    resp = httpx.post(f"{stack.function_url('signals')}/v1/signals", json=body,
                      headers={"X-Apigateway-Api-Userinfo": userinfo(world.users[1])}, timeout=30)
    assert resp.status_code == 202
    assert wait_rows([body["event_id"]])[0]["user_id"] == world.users[1]

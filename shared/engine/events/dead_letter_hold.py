"""The dead-letter hold subscription as a library: list what landed on `signals-dead-letter-hold` and replay it.

Two callers share this code: the `replay_dead_letters` job (an operator's command line) and the admin function's
console routes (a button). Jobs and functions never import each other, so the logic lives here, in the engine.

Listing leases the messages only for as long as it takes to describe them and then releases them (ack deadline 0),
so a listing never hides a dead letter from the next one. Replaying republishes the original data and attributes
to the topic of the subscription the message came from, marked `replayed_from_dead_letter`; the sink stores each
event id once, so a replay is safe to repeat.
"""
from __future__ import annotations

from typing import Any


def subscriber():
    from google.cloud import pubsub_v1

    return pubsub_v1.SubscriberClient()


def hold_path(client, project: str | None = None) -> str:
    from shared.engine.events.deadletter import DEAD_LETTER_HOLD
    from shared.settings import get_settings

    return client.subscription_path(project or get_settings().project, DEAD_LETTER_HOLD)


def pull_all(client, path: str, limit: int, *, patient: bool = True) -> list[Any]:
    """Everything on the hold subscription (up to limit), leased long enough to list or replay it.

    Only immediate pulls: a blocking pull abandoned by its client timeout can still be served by the service
    later, leasing messages to nobody until their ack deadline, which would hide them from this very listing.
    An empty answer is retried a few times (patient) because messages just released may take a moment to return.
    """
    import time
    import warnings

    from google.api_core import exceptions

    got: dict[str, Any] = {}
    empty_left = 4 if patient else 1
    while len(got) < limit and empty_left > 0:
        request = {"subscription": path, "max_messages": min(100, limit - len(got)), "return_immediately": True}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # deprecated, but right for an admin listing
                resp = client.pull(request=request, timeout=30)
        except exceptions.DeadlineExceeded:
            resp = None
        received = [rm for rm in (resp.received_messages if resp else []) if rm.message.message_id not in got]
        if not received:
            empty_left -= 1
            if empty_left:
                time.sleep(0.5)
            continue
        for rm in received:
            got[rm.message.message_id] = rm
        client.modify_ack_deadline(request={"subscription": path, "ack_ids": [rm.ack_id for rm in received],
                                            "ack_deadline_seconds": 300})
    return list(got.values())


def describe(rm: Any) -> dict[str, Any]:
    from shared.engine.events import deadletter

    attrs = dict(rm.message.attributes)
    data = bytes(rm.message.data)
    return {
        "message_id": rm.message.message_id,
        "published": rm.message.publish_time.isoformat() if rm.message.publish_time else None,
        "source_subscription": deadletter.origin_subscription(attrs),
        "reason": attrs.get(deadletter.ATTR_REASON, "delivery attempts exhausted (Pub/Sub policy)"),
        "error": attrs.get(deadletter.ATTR_ERROR, ""),
        "attempts": attrs.get(deadletter.ATTR_ATTEMPTS) or attrs.get("CloudPubSubDeadLetterSourceDeliveryCount"),
        "event_id": attrs.get("event_id"),
        "data": data.decode("utf-8", "replace")[:300],
    }


def release(client, path: str, ack_ids: list[str]) -> None:
    if ack_ids:
        client.modify_ack_deadline(request={"subscription": path, "ack_ids": ack_ids, "ack_deadline_seconds": 0})


def replay(client, path: str, messages: list[Any], *, ack: bool) -> tuple[list[Any], list[tuple[Any, str]]]:
    """Republish each message to its source topic; with ack, remove the replayed ones from the hold. Every
    message not acked is released. Answers (replayed, [(message, why it was not replayed)])."""
    from shared.engine.events import deadletter

    replayed, failed = [], []
    for rm in messages:
        attrs = dict(rm.message.attributes)
        origin = deadletter.origin_subscription(attrs)
        topic = deadletter.source_topic(origin) if origin else None
        if topic is None:
            failed.append((rm, f"unknown source subscription {origin!r}"))
            continue
        try:
            deadletter.publish_raw(topic, bytes(rm.message.data),
                                   deadletter.replay_attributes(attrs, rm.message.message_id))
        except Exception as exc:  # noqa: BLE001 - report and keep the message
            failed.append((rm, f"publish to {topic} failed: {exc}"))
            continue
        replayed.append(rm)
    acked: set[str] = set()
    if ack and replayed:
        ids = [rm.ack_id for rm in replayed]
        for start in range(0, len(ids), 500):
            client.acknowledge(request={"subscription": path, "ack_ids": ids[start:start + 500]})
        acked = set(ids)
    release(client, path, [rm.ack_id for rm in messages if rm.ack_id not in acked])
    return replayed, failed


def list_held(limit: int = 100) -> list[dict[str, Any]]:
    """The dead letters now on the hold, described, and released again."""
    client = subscriber()
    path = hold_path(client)
    messages = pull_all(client, path, limit, patient=False)
    out = [describe(rm) for rm in messages]
    release(client, path, [rm.ack_id for rm in messages])
    return out


def replay_held(message_ids: list[str] | None, limit: int = 1000) -> dict[str, Any]:
    """Replay the named dead letters (all when message_ids is None) and ack them; the others stay on the hold."""
    client = subscriber()
    path = hold_path(client)
    messages = pull_all(client, path, limit)
    wanted = [rm for rm in messages if message_ids is None or rm.message.message_id in message_ids]
    release(client, path, [rm.ack_id for rm in messages if rm not in wanted])
    replayed, failed = replay(client, path, wanted, ack=True)
    found = {rm.message.message_id for rm in wanted}
    return {"replayed": [rm.message.message_id for rm in replayed],
            "failed": [{"message_id": rm.message.message_id, "reason": why} for rm, why in failed],
            "not_found": sorted(set(message_ids or []) - found)}

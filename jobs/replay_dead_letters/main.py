"""Admin command: list and replay the signal messages that landed on `signals-dead-letter`.

    python -m jobs.replay_dead_letters.main --list              # show them; they stay on the hold subscription
    python -m jobs.replay_dead_letters.main --replay            # republish each to the topic it came from
    python -m jobs.replay_dead_letters.main --replay --ack      # ... and remove it from the hold subscription

Messages are read from the pull subscription `signals-dead-letter-hold`. A dead letter names its source
subscription (our `dead_letter_source_subscription` attribute, or Pub/Sub's own
CloudPubSubDeadLetterSourceSubscription); replay republishes the original data with the original attributes to
that subscription's topic, marked `replayed_from_dead_letter`. Replaying is safe to repeat: the sink stores each
event id once. Without --ack a replayed message stays on the hold subscription (so the listing still shows it
until someone acks it); fix the cause first, or a poison message simply dead-letters again.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _log(msg: str) -> None:
    print(f"replay_dead_letters: {msg}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m jobs.replay_dead_letters.main",
                                     description="List or replay dead-lettered signal messages.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--list", action="store_true", help="print the dead letters and leave them in place")
    mode.add_argument("--replay", action="store_true", help="republish each to its source topic")
    parser.add_argument("--ack", action="store_true", help="with --replay: remove replayed messages from the hold")
    parser.add_argument("--max", type=int, default=1000, help="at most this many messages (default 1000)")
    parser.add_argument("--json", action="store_true", help="with --list: one JSON object per line")
    parser.add_argument("--no-wait", action="store_true",
                        help="stop at the first empty pull instead of retrying for stragglers")
    args = parser.parse_args(argv)
    if args.ack and not args.replay:
        parser.error("--ack only makes sense with --replay")
    if args.max < 1:
        parser.error("--max must be at least 1")
    return args


def _subscriber():
    from google.cloud import pubsub_v1

    return pubsub_v1.SubscriberClient()


def pull_all(subscriber, path: str, limit: int, *, patient: bool = True) -> list[Any]:
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
                resp = subscriber.pull(request=request, timeout=30)
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
        subscriber.modify_ack_deadline(request={"subscription": path, "ack_ids": [rm.ack_id for rm in received],
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


def _release(subscriber, path: str, ack_ids: list[str]) -> None:
    if ack_ids:
        subscriber.modify_ack_deadline(request={"subscription": path, "ack_ids": ack_ids, "ack_deadline_seconds": 0})


def run(args: argparse.Namespace) -> int:
    from shared.engine.events import deadletter
    from shared.settings import get_settings

    subscriber = _subscriber()
    path = subscriber.subscription_path(get_settings().project, deadletter.DEAD_LETTER_HOLD)
    messages = pull_all(subscriber, path, args.max, patient=not args.no_wait)
    _log(f"{len(messages)} dead letter(s) on {deadletter.DEAD_LETTER_HOLD}")
    if args.list:
        for rm in messages:
            info = describe(rm)
            if args.json:
                print(json.dumps(info))
            else:
                print(f"- {info['message_id']} from {info['source_subscription']} after {info['attempts']} attempts: "
                      f"{info['reason']} {info['error']}\n    {info['data']}")
        _release(subscriber, path, [rm.ack_id for rm in messages])
        return 0

    replayed, failed, acked = [], [], []
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
    if args.ack and replayed:
        ids = [rm.ack_id for rm in replayed]
        for start in range(0, len(ids), 500):
            subscriber.acknowledge(request={"subscription": path, "ack_ids": ids[start:start + 500]})
        acked = replayed
    acked_ids = {rm.ack_id for rm in acked}
    _release(subscriber, path, [rm.ack_id for rm in messages if rm.ack_id not in acked_ids])
    for rm, why in failed:
        _log(f"not replayed {rm.message.message_id}: {why}")
    _log(f"replayed {len(replayed)}, acked {len(acked)}, failed {len(failed)}"
         + ("" if args.ack else " (without --ack the replayed messages stay on the hold subscription)"))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except Exception as exc:  # noqa: BLE001
        _log(f"FAILED: {exc.__class__.__name__}: {exc}")
        _log("check PUBSUB_EMULATOR_HOST (locally) or your credentials, and that signals-dead-letter-hold exists")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

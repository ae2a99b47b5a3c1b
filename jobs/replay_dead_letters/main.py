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
from typing import Any  # noqa: F401

# the hold's logic lives in shared (the admin console replays too); these names stay the job's API
from shared.engine.events.dead_letter_hold import describe, pull_all  # noqa: F401
from shared.engine.events.dead_letter_hold import release as _release  # noqa: F401
from shared.engine.events.dead_letter_hold import subscriber as _subscriber


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

    from shared.engine.events.dead_letter_hold import replay

    replayed, failed = replay(subscriber, path, messages, ack=args.ack)
    acked = replayed if args.ack else []
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

"""Push consumer for the `signals-to-sink` and `candidate-sets-to-sink` subscriptions: one signal per message,
stored once in behavioral_signals.

What the status code tells Pub/Sub:
- 204: stored, or already stored (a redelivery or a client retry): ack;
- 503/500: a transient failure (Postgres or Redis unreachable, ...): nack, Pub/Sub retries with backoff;
- 422: a poison message (undecodable data, a payload that fails the schema, a row Postgres refuses): nack until
  its attempts, counted per message id in Redis, reach the subscription's max_delivery_attempts; that last
  attempt publishes the original data, with the reason in its attributes, to `signals-dead-letter` and acks
  (200 "dead_lettered"). `python -m jobs.replay_dead_letters` lists and replays them;
- 400: a body that is not a Pub/Sub push envelope at all (nothing to dead-letter).

Candidate sets from the trips function arrive in the same shape as signals, with signal_type
`candidate_set_logged`, no item, their weight defaulting to 1.0 and their time to the message's publish time.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import flask
import functions_framework

from shared.api.caller_identity import PUSH, require_caller
from shared.api.http import Router, endpoint
from shared.api.push_consumer import Poison, answer_poison, database_refused, decode, envelope, postgres_unavailable
from shared.api.push_consumer import transient

log = logging.getLogger("concierge.signal_sink")
router = Router()


def _publish_time(message: dict[str, Any]) -> datetime | None:
    value = message.get("publishTime") or message.get("publish_time")
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


async def _store(record, published_at):
    from shared.adapters.postgres import get_pool
    from shared.engine.events.sink import insert_signal

    try:
        return await insert_signal(await get_pool(), record, default_time=published_at)
    except Exception as exc:
        refused = database_refused(exc)
        if refused is None:
            raise
        raise refused from None


@router.route("POST", "/")
def push(request: flask.Request) -> flask.Response:
    require_caller(request, "signal_sink", PUSH)
    from shared.adapters.aio import run_sync
    from shared.engine.events import deadletter
    from shared.engine.events.anonymise import PseudonymSaltMissing
    from shared.engine.events.schema import SignalRecord

    body = envelope(request)
    message = body["message"]
    try:
        record = decode(message, SignalRecord)
        outcome = run_sync(_store(record, _publish_time(message)))
    except Poison as poison:
        return answer_poison(body, poison, deadletter.DEAD_LETTER_TOPIC)
    except PseudonymSaltMissing as exc:
        log.error("%s", exc)
        return transient("anonymisation salt missing")
    except Exception as exc:
        unavailable = postgres_unavailable(exc)
        if unavailable is None:
            raise
        return unavailable
    return flask.Response(status=204, headers={"X-Signal-Outcome": "inserted" if outcome.inserted else "duplicate"})


@functions_framework.http
@endpoint
def handle(request: flask.Request) -> flask.Response:
    return router.dispatch(request)

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

import base64
import binascii
import json
import logging
from datetime import datetime
from typing import Any

import flask
import functions_framework

from shared.api import json_input
from shared.api.caller_identity import PUSH, require_caller
from shared.api.errors import bad_request
from shared.api.http import Router, endpoint, json_response

log = logging.getLogger("concierge.signal_sink")
router = Router()


class Poison(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def _envelope(request: flask.Request) -> dict[str, Any]:
    try:
        body = json_input.loads(request.get_data(cache=True) or b"null")
    except json_input.InvalidJson as exc:
        raise bad_request(f"{exc.message}; expected a Pub/Sub push envelope", exc.field) from None
    if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
        raise bad_request("message: expected a Pub/Sub push envelope with a 'message' object", "message")
    return body


def _raw_data(message: dict[str, Any]) -> bytes:
    """The message's bytes; undecodable base64 is kept as its text so the dead letter still shows it."""
    raw = message.get("data") or ""
    if not isinstance(raw, str):
        return json.dumps(raw).encode()
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return raw.encode("utf-8", "replace")


def _parse(message: dict[str, Any]):
    from pydantic import ValidationError

    from shared.engine.events.schema import SignalRecord

    raw = message.get("data")
    if not isinstance(raw, str) or not raw:
        raise Poison("undecodable", "message.data: missing or not a base64 string")
    try:
        payload = json_input.loads(base64.b64decode(raw, validate=True).decode("utf-8"))
    except json_input.InvalidJson as exc:
        raise Poison("undecodable" if exc.syntax else "schema_invalid", f"message.data.{exc.field}: {exc.message}") from None
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise Poison("undecodable", f"message.data: not base64-encoded UTF-8 JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise Poison("schema_invalid", "message.data: the payload must be a JSON object")
    try:
        return SignalRecord.model_validate(payload)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_context=False, include_input=False)[0]
        path = ".".join(str(p) for p in err["loc"]) or "payload"
        raise Poison("schema_invalid", f"{path}: {err['msg']}") from None


def _publish_time(message: dict[str, Any]) -> datetime | None:
    value = message.get("publishTime") or message.get("publish_time")
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


async def _store(record, published_at):
    import asyncpg

    from shared.adapters.postgres import get_pool
    from shared.engine.events.sink import insert_signal

    try:
        return await insert_signal(await get_pool(), record, default_time=published_at)
    except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
        raise Poison("rejected_by_database", f"{exc.__class__.__name__}: {exc}") from None
    except ValueError as exc:  # asyncpg's client-side encoding errors (e.g. a value out of range)
        raise Poison("rejected_by_database", f"{exc.__class__.__name__}: {exc}") from None


def _transient(message: str) -> flask.Response:
    return json_response({"error": {"code": "unavailable", "message": message}}, 503)


def _poison(envelope: dict[str, Any], poison: Poison) -> flask.Response:
    from shared.adapters.redis_cache import get_redis
    from shared.engine.events import deadletter

    message = envelope["message"]
    subscription = str(envelope.get("subscription") or "unknown")
    message_id = str(message.get("messageId") or message.get("message_id") or "")
    limit = deadletter.max_delivery_attempts(subscription)
    try:
        attempt = deadletter.count_attempt(get_redis(), subscription, message_id) if message_id else limit
    except Exception as exc:  # noqa: BLE001 - without the count, let Pub/Sub retry (its own policy bounds it)
        log.warning("poison message %s on %s, attempt unknown (%s): %s", message_id, subscription, exc, poison.message)
        return _transient(f"poison message, attempt count unavailable: {poison.message}")
    attempt = max(attempt, int(envelope.get("deliveryAttempt") or 0))
    log.warning("poison message %s on %s, attempt %d of %d: %s: %s",
                message_id, subscription, attempt, limit, poison.reason, poison.message)
    if attempt < limit:
        return json_response({"error": {"code": poison.reason, "message": poison.message,
                                        "details": [{"attempt": attempt, "max_delivery_attempts": limit}]}}, 422)
    attributes = deadletter.dead_letter_attributes(
        dict(message.get("attributes") or {}), reason=poison.reason, error=poison.message,
        subscription=subscription, message_id=message_id, attempts=attempt,
    )
    try:
        dead_id = deadletter.publish_raw(deadletter.DEAD_LETTER_TOPIC, _raw_data(message), attributes)
    except Exception as exc:  # noqa: BLE001
        log.error("could not dead-letter message %s: %s", message_id, exc)
        return _transient(f"could not publish to {deadletter.DEAD_LETTER_TOPIC}: {exc.__class__.__name__}")
    try:
        deadletter.clear_attempts(get_redis(), subscription, message_id)
    except Exception:  # noqa: BLE001 - the counter expires on its own
        pass
    return json_response({"status": "dead_lettered", "dead_letter_message_id": dead_id,
                          "reason": poison.reason, "attempts": attempt}, 200)


@router.route("POST", "/")
def push(request: flask.Request) -> flask.Response:
    require_caller(request, "signal_sink", PUSH)
    from shared.adapters.aio import run_sync
    from shared.engine.events.anonymise import PseudonymSaltMissing

    envelope = _envelope(request)
    message = envelope["message"]
    try:
        record = _parse(message)
        outcome = run_sync(_store(record, _publish_time(message)))
    except Poison as poison:
        return _poison(envelope, poison)
    except PseudonymSaltMissing as exc:
        log.error("%s", exc)
        return _transient("anonymisation salt missing")
    except (OSError, TimeoutError) as exc:
        return _transient(f"postgres unavailable: {exc.__class__.__name__}")
    except Exception as exc:
        import asyncpg

        if isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                            asyncpg.TooManyConnectionsError, asyncpg.CannotConnectNowError,
                            asyncpg.SerializationError, asyncpg.DeadlockDetectedError)):
            return _transient(f"postgres unavailable: {exc.__class__.__name__}")
        raise
    return flask.Response(status=204, headers={"X-Signal-Outcome": "inserted" if outcome.inserted else "duplicate"})


@functions_framework.http
@endpoint
def handle(request: flask.Request) -> flask.Response:
    return router.dispatch(request)

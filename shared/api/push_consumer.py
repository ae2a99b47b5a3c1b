"""What every Pub/Sub push consumer does the same way: read the envelope, decode the payload into a model, and
answer a poison message (nack until its attempts, counted per message id in Redis, reach the subscription's
max_delivery_attempts; then publish the original data to the dead-letter topic with the reason and ack).

What the status code tells Pub/Sub: 204 stored or already stored (ack); 503 a transient failure (nack, retried with
backoff); 422 a poison message, not yet dead-lettered (nack); 200 "dead_lettered" (ack); 400 not an envelope.
The sinks (functions/signal_sink, functions/interaction_sink) differ only in their model and their store.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

import flask

from shared.api import json_input
from shared.api.errors import bad_request
from shared.api.http import json_response

log = logging.getLogger("concierge.push")


class Poison(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def envelope(request: flask.Request) -> dict[str, Any]:
    try:
        body = json_input.loads(request.get_data(cache=True) or b"null")
    except json_input.InvalidJson as exc:
        raise bad_request(f"{exc.message}; expected a Pub/Sub push envelope", exc.field) from None
    if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
        raise bad_request("message: expected a Pub/Sub push envelope with a 'message' object", "message")
    return body


def raw_data(message: dict[str, Any]) -> bytes:
    """The message's bytes; undecodable base64 is kept as its text so the dead letter still shows it."""
    raw = message.get("data") or ""
    if not isinstance(raw, str):
        return json.dumps(raw).encode()
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return raw.encode("utf-8", "replace")


def decode(message: dict[str, Any], model):
    """The message's JSON payload validated as `model` (a pydantic model); Poison naming the field otherwise."""
    from pydantic import ValidationError

    raw = message.get("data")
    if not isinstance(raw, str) or not raw:
        raise Poison("undecodable", "message.data: missing or not a base64 string")
    try:
        payload = json_input.loads(base64.b64decode(raw, validate=True).decode("utf-8"))
    except json_input.InvalidJson as exc:
        raise Poison("undecodable" if exc.syntax else "schema_invalid",
                     f"message.data.{exc.field}: {exc.message}") from None
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise Poison("undecodable", f"message.data: not base64-encoded UTF-8 JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise Poison("schema_invalid", "message.data: the payload must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_context=False, include_input=False)[0]
        path = ".".join(str(p) for p in err["loc"]) or "payload"
        raise Poison("schema_invalid", f"{path}: {err['msg']}") from None


def database_refused(exc: Exception) -> Poison | None:
    """A row Postgres (or asyncpg's encoder) refuses is poison: retrying cannot help."""
    import asyncpg

    if isinstance(exc, (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, ValueError)):
        return Poison("rejected_by_database", f"{exc.__class__.__name__}: {exc}")
    return None


def transient(message: str) -> flask.Response:
    return json_response({"error": {"code": "unavailable", "message": message}}, 503)


def postgres_unavailable(exc: Exception) -> flask.Response | None:
    """A 503 for a Postgres outage (Pub/Sub redelivers), None for anything else (a bug: let it raise)."""
    import asyncpg

    if isinstance(exc, (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                        asyncpg.TooManyConnectionsError, asyncpg.CannotConnectNowError,
                        asyncpg.SerializationError, asyncpg.DeadlockDetectedError)):
        return transient(f"postgres unavailable: {exc.__class__.__name__}")
    return None


def answer_poison(body: dict[str, Any], poison: Poison, dead_letter_topic: str) -> flask.Response:
    from shared.adapters.redis_cache import get_redis
    from shared.engine.events import deadletter

    message = body["message"]
    subscription = str(body.get("subscription") or "unknown")
    message_id = str(message.get("messageId") or message.get("message_id") or "")
    limit = deadletter.max_delivery_attempts(subscription)
    try:
        attempt = deadletter.count_attempt(get_redis(), subscription, message_id) if message_id else limit
    except Exception as exc:  # noqa: BLE001 - without the count, let Pub/Sub retry (its own policy bounds it)
        log.warning("poison message %s on %s, attempt unknown (%s): %s", message_id, subscription, exc, poison.message)
        return transient(f"poison message, attempt count unavailable: {poison.message}")
    attempt = max(attempt, int(body.get("deliveryAttempt") or 0))
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
        dead_id = deadletter.publish_raw(dead_letter_topic, raw_data(message), attributes)
    except Exception as exc:  # noqa: BLE001
        log.error("could not dead-letter message %s: %s", message_id, exc)
        return transient(f"could not publish to {dead_letter_topic}: {exc.__class__.__name__}")
    try:
        deadletter.clear_attempts(get_redis(), subscription, message_id)
    except Exception:  # noqa: BLE001 - the counter expires on its own
        pass
    return json_response({"status": "dead_lettered", "dead_letter_message_id": dead_id,
                          "reason": poison.reason, "attempts": attempt}, 200)

"""POST /v1/signals: validate, weight and publish behavioural signals; answer 202 before anything is written.

Body: one signal object, or {"signals": [...]} with 1..500 of them. Each signal is validated on its own
(schema, rules, ids against Postgres); the accepted ones are published to the `signals` topic, one message per
signal, and the response is sent only once Pub/Sub has acknowledged every publish, so an accepted signal is
never lost. The signal sink writes them to Postgres afterwards.

Responses:
- one signal: 202 {"event_id", "status": "accepted", "weight"}; a rejected one gets its 4xx (400 schema,
  403 another user's data, 404 unknown id) whose body names the field;
- a batch: 202 when every item was accepted, 207 (Multi-Status) when some were rejected, 400 when none was
  accepted. The 202/207 body lists every item in order with its event id, or its error naming the field:
  {"accepted": n, "rejected": m, "results": [{"index", "status": "accepted", "event_id"} |
                                              {"index", "status": "rejected", "event_id"?, "error"}]}.
- 503 when Pub/Sub did not acknowledge: nothing is promised; retry with the same event ids (they are returned).

Idempotency: the event id (client-chosen, or assigned here and returned) is the row's unique key, so a client
that retries with the same event id is never counted twice.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import flask
import functions_framework

from shared.api.errors import ApiError, bad_request
from shared.api.http import Router, current_user, endpoint, json_body, json_response

router = Router()

MAX_BODY_BYTES = 4_000_000
PUBLISH_TIMEOUT_S = 10.0  # under the gateway's 15 s deadline: a Pub/Sub outage is our 503, not its 504


def _split(body: Any) -> tuple[list[Any], bool]:
    """(items, is_batch) from either accepted shape; the batch size bound is checked before any item is read."""
    from shared.engine.events.schema import MAX_BATCH

    if isinstance(body, dict) and "signals" in body:
        extra = sorted(k for k in body if k != "signals")
        if extra:
            raise bad_request(f"{extra[0]}: unexpected key next to 'signals'", extra[0])
        items = body["signals"]
        if not isinstance(items, list):
            raise bad_request("signals: must be an array of signal objects", "signals")
        if len(items) > MAX_BATCH:
            raise ApiError(413, "payload_too_large",
                           f"signals: at most {MAX_BATCH} signals per batch, got {len(items)}", "signals")
        if not items:
            raise bad_request("signals: the batch is empty", "signals")
        return items, True
    if isinstance(body, dict):
        return [body], False
    raise bad_request("body: expected a signal object or {\"signals\": [...]}", "body")


def _publish(records: list[dict[str, Any]]) -> list[str | None]:
    """Publish every record and wait for every ack; returns the failure (or None) per record."""
    from shared.adapters.pubsub import publish_json
    from shared.engine.events.deadletter import SIGNALS_TOPIC

    futures = [publish_json(SIGNALS_TOPIC, rec, event_id=rec["event_id"], signal_type=rec["signal_type"])
               for rec in records]
    failures: list[str | None] = []
    for future in futures:
        try:
            future.result(timeout=PUBLISH_TIMEOUT_S)
            failures.append(None)
        except Exception as exc:  # noqa: BLE001 - any publish failure means "not accepted"
            failures.append(f"{exc.__class__.__name__}: {exc}"[:300])
    return failures


@router.route("POST", "/v1/signals")
def record_signals(request: flask.Request) -> flask.Response:
    from shared.adapters.aio import run_sync
    from shared.engine.events.validation import ItemError, duplicate_event_ids, parse_signal, to_record

    caller = current_user(request)
    items, is_batch = _split(json_body(request, max_bytes=MAX_BODY_BYTES))
    now = datetime.now(timezone.utc)

    def prefix_of(index: int) -> str:
        return f"signals[{index}]" if is_batch else ""

    errors: dict[int, ItemError] = {}
    parsed = []
    for index, raw in enumerate(items):
        result = parse_signal(raw, caller, now, prefix_of(index))
        if isinstance(result, ItemError):
            errors[index] = result
        else:
            parsed.append((index, result))
    errors.update(duplicate_event_ids(parsed, prefix_of))
    parsed = [(i, s) for i, s in parsed if i not in errors]
    if parsed:
        from shared.adapters.unavailable import unavailable_dependency

        try:
            errors.update(run_sync(_check(caller, parsed, prefix_of)))
        except Exception as exc:
            if unavailable_dependency(exc) is None:
                raise
            raise ApiError(503, "unavailable", "could not check the ids (database unavailable); nothing was "
                           f"recorded: retry with the same event ids ({exc.__class__.__name__})", "body") from None
    accepted = [(i, s) for i, s in parsed if i not in errors]

    records = {i: to_record(s, caller, now) for i, s in accepted}
    failures = _publish(list(records.values())) if records else []
    failed = {i: f for i, f in zip(records, failures) if f}
    if failed:
        raise ApiError(
            503, "unavailable",
            "could not hand the signals to Pub/Sub; nothing is promised: retry with the same event ids",
            "signals" if is_batch else "body",
            details=[{"index": i, "event_id": records[i]["event_id"], "reason": failed[i]} for i in sorted(failed)]
            + [{"index": i, "event_id": records[i]["event_id"], "reason": "published"}
               for i in sorted(records) if i not in failed],
        )

    if not is_batch:
        if errors:
            err = errors[0]
            raise ApiError(err.status, err.code, err.message, err.field)
        rec = records[0]
        return json_response({"event_id": rec["event_id"], "status": "accepted", "weight": rec["weight"]}, 202)

    results = []
    for index, raw in enumerate(items):
        if index in records:
            results.append({"index": index, "status": "accepted", "event_id": records[index]["event_id"]})
        else:
            entry: dict[str, Any] = {"index": index, "status": "rejected", "error": errors[index].body()}
            if isinstance(raw, dict) and isinstance(raw.get("event_id"), str):
                entry["event_id"] = raw["event_id"]
            results.append(entry)
    if not records:
        first = errors[min(errors)]
        raise ApiError(400, "invalid_argument", f"no signal in the batch was accepted; first: {first.message}",
                       first.field, details=results)
    body = {"accepted": len(records), "rejected": len(errors), "results": results}
    return json_response(body, 207 if errors else 202)


async def _check(caller: str, parsed, prefix_of):
    from shared.adapters.postgres import get_pool
    from shared.engine.events.validation import check_references

    return await check_references(await get_pool(), caller, parsed, prefix_of)


@functions_framework.http
@endpoint
def handle(request: flask.Request) -> flask.Response:
    return router.dispatch(request)

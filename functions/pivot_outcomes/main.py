"""The outcome of every pivot a traveller was shown: accepted, dismissed, or ignored (the rules are in
shared/domains/travel/trips/pivot_outcomes.py).

POST /                 push consumer of the `pivots-to-outcomes` subscription. For each venue a pivot proposed it
                       enqueues one task on the `pivot-outcomes` queue, scheduled `pivot_ignored_after_s` later,
                       with a deterministic task name (a redelivered message enqueues nothing new). 204 when done;
                       events that propose nothing (swaps) are acknowledged with 204 too. A message whose payload
                       is not a pivot event is acknowledged with 200 {"status": "discarded", "error"} (retrying it
                       cannot help); a body that is not a push envelope gets 400; 503 when the queue is
                       unreachable, so Pub/Sub retries.
POST /tasks/resolve    the Cloud Tasks handler (not routed by the gateway). 200 {"status": "accepted" | "dismissed"
                       | "ignored", "pivot_id"}: when the traveller has not answered, a pivot_ignore signal is
                       published to the `signals` topic (idempotent: its event id comes from the pivot). 400 for a
                       body that is not a proposal, 503 on a transient failure so Cloud Tasks retries.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import flask
import functions_framework

from shared.api.caller_identity import PUSH, TASKS, require_caller
from shared.api.errors import ApiError, bad_request
from shared.api.http import Router, endpoint, json_body, json_response, parse

log = logging.getLogger("concierge.pivot_outcomes")
router = Router()
QUEUE = "pivot-outcomes"
RESOLVE_PATH = "/tasks/resolve"


@router.route("POST", "/")
def on_pivot(request: flask.Request) -> flask.Response:
    require_caller(request, "pivot_outcomes", PUSH)
    from shared.adapters.pubsub import decode_push
    from shared.domains.errors import InvalidRequest
    from shared.domains.travel.trips.pivot_outcomes import proposals

    envelope = json_body(request)
    try:
        event, _attributes, _message_id = decode_push(envelope)
    except ValueError as exc:
        field = str(exc).split(":", 1)[0]
        if field == "message":  # not a push envelope at all: nothing Pub/Sub could redeliver usefully
            raise bad_request(str(exc), field) from None
        log.warning("discarding an undecodable pivots message: %s", exc)
        return json_response({"status": "discarded", "error": {"field": field, "message": str(exc)}})
    try:
        found = proposals(event, _publish_time(envelope["message"].get("publishTime")))
    except InvalidRequest as exc:
        log.warning("discarding a pivots message that is not a pivot event: %s", exc)
        return json_response({"status": "discarded", "error": {"field": exc.field, "message": str(exc)}})
    try:
        _enqueue(found)
    except Exception as exc:
        log.exception("could not enqueue pivot outcomes")
        raise ApiError(503, "unavailable", f"the {QUEUE} queue is unreachable ({type(exc).__name__}); "
                       "Pub/Sub will redeliver") from None
    return flask.Response(status=204)


@router.route("POST", RESOLVE_PATH)
def resolve(request: flask.Request) -> flask.Response:
    require_caller(request, "pivot_outcomes", TASKS)
    from shared.adapters.aio import run_sync
    from shared.domains.travel.trips.pivot_outcomes import Proposal

    proposal = parse(Proposal, json_body(request))
    try:
        status = run_sync(_resolve(proposal), timeout=20)
    except Exception as exc:
        log.exception("resolving pivot %s failed", proposal.pivot_id)
        raise ApiError(503, "unavailable", f"could not resolve the pivot ({type(exc).__name__}); Cloud Tasks "
                       "will retry") from None
    return json_response({"status": status, "pivot_id": proposal.pivot_id})


def _publish_time(raw) -> datetime:
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(timezone.utc)


def _enqueue(found) -> None:
    from shared.adapters.tasks import enqueue_http
    from shared.domains.travel.trips.pivot_outcomes import task_id
    from shared.settings import get_settings

    settings = get_settings()
    url = settings.function_url("pivot_outcomes") + RESOLVE_PATH
    for p in found:
        enqueue_http(QUEUE, url, p.model_dump(mode="json"), task_id=task_id(p),
                     delay_s=settings.pivot_ignored_after_s)


async def _resolve(proposal) -> str:
    from shared.adapters.postgres import get_pool
    from shared.adapters.pubsub import publish_json
    from shared.domains.travel.trips.pivot_outcomes import answer, ignore_record
    from shared.engine.events.deadletter import SIGNALS_TOPIC

    pool = await get_pool()
    async with pool.acquire() as conn:
        answered = await answer(conn, proposal)
    if answered:
        return answered
    rec = ignore_record(proposal, datetime.now(timezone.utc))
    publish_json(SIGNALS_TOPIC, rec, event_id=rec["event_id"], signal_type=rec["signal_type"]).result(timeout=10)
    return "ignored"


@functions_framework.http
@endpoint
def handle(request: flask.Request) -> flask.Response:
    return router.dispatch(request)

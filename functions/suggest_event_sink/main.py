"""Push consumer for the `suggest-events-to-sink` subscription: one suggestion event (impression, click,
conversion) per message, stored once in suggest_events (shared.domains.catalogues.suggest.events).

What the status code tells Pub/Sub (shared/api/push_consumer.py, as the other sinks):
- 204: stored, or already stored (a duplicate: redelivery, client retry, a client's confirmation of a logged
  impression): ack. X-Event-Outcome says which;
- 503: Postgres unreachable: nack, retried with backoff;
- 422: poison (undecodable, fails the schema, or a click/conversion whose impression is not stored yet): nack until
  max_delivery_attempts, then published to `suggest-events-dead-letter` with the reason and acked (200). A click
  that arrived before its impression is therefore retried with backoff first, and counts nothing if its impression
  never comes.
"""
from __future__ import annotations

import flask
import functions_framework

from shared.api.caller_identity import PUSH, require_caller
from shared.api.http import Router, endpoint
from shared.api.push_consumer import Poison, answer_poison, database_refused, decode, envelope, postgres_unavailable

router = Router()


async def _store(parsed):
    from shared.adapters.postgres import get_pool
    from shared.domains.catalogues.suggest.events import ImpressionNotStored, store_event
    from shared.domains.errors import InvalidRequest

    try:
        async with (await get_pool()).acquire() as conn:
            return await store_event(conn, parsed)
    except ImpressionNotStored as exc:
        raise Poison("impression_not_found", exc.message) from None
    except InvalidRequest as exc:
        raise Poison("schema_invalid", exc.message) from None
    except Exception as exc:
        refused = database_refused(exc)
        if refused is None:
            raise
        raise refused from None


@router.route("POST", "/")
def push(request: flask.Request) -> flask.Response:
    require_caller(request, "suggest_event_sink", PUSH)
    from shared.adapters.aio import run_sync
    from shared.domains.catalogues.suggest.events import DEAD_LETTER_TOPIC, EventMessage

    body = envelope(request)
    try:
        parsed = decode(body["message"], EventMessage)
        inserted = run_sync(_store(parsed))
    except Poison as poison:
        return answer_poison(body, poison, DEAD_LETTER_TOPIC)
    except Exception as exc:
        unavailable = postgres_unavailable(exc)
        if unavailable is None:
            raise
        return unavailable
    return flask.Response(status=204, headers={"X-Event-Outcome": "inserted" if inserted else "duplicate"})


@functions_framework.http
@endpoint
def handle(request: flask.Request) -> flask.Response:
    return router.dispatch(request)

"""Push consumer for the `catalogue-interactions-to-sink` subscription: one catalogue interaction per message,
stored once in catalogue_interactions (shared.domains.catalogues.interactions).

What the status code tells Pub/Sub (as functions/signal_sink does):
- 204: stored, or already stored (a redelivery or a republished event): ack. X-Interaction-Outcome says which;
- 503: a transient failure (Postgres or Redis unreachable, ...): nack, Pub/Sub retries with backoff;
- 422: a poison message (undecodable data, a payload that fails the schema, an unknown catalogue or item, a row
  Postgres refuses): nack until its attempts, counted per message id in Redis, reach the subscription's
  max_delivery_attempts; that last attempt publishes the original data, with the reason in its attributes, to
  `catalogue-interactions-dead-letter` and acks (200 "dead_lettered");
- 400: a body that is not a Pub/Sub push envelope at all (nothing to dead-letter).

A stored event bumps the user's history version in Redis (store.history_version_key), which the recommendations
cache keys on; a Redis failure there answers 503, and the redelivery (a duplicate) bumps it then, once.
"""
from __future__ import annotations

import logging
from typing import Any

import flask
import functions_framework

from shared.api.caller_identity import PUSH, require_caller
from shared.api.http import Router, endpoint
from shared.api.push_consumer import Poison, answer_poison, database_refused, decode, envelope, postgres_unavailable
from shared.api.push_consumer import transient

log = logging.getLogger("concierge.interaction_sink")
router = Router()


def _parse(message: dict[str, Any]):
    from shared.domains.catalogues.interactions import InteractionMessage

    parsed = decode(message, InteractionMessage)
    attribute = (message.get("attributes") or {}).get("catalogue")
    if attribute is not None and attribute != parsed.catalogue_id:
        raise Poison("schema_invalid", f"attributes.catalogue {attribute!r} is not the payload's catalogue_id "
                                       f"{parsed.catalogue_id!r}")
    return parsed


async def _store(parsed):
    from shared.adapters.postgres import get_pool
    from shared.domains.catalogues.interactions import UnknownCatalogue, UnknownItem, store_interaction

    try:
        return await store_interaction(await get_pool(), parsed)
    except UnknownCatalogue as exc:
        raise Poison("unknown_catalogue", exc.message) from None
    except UnknownItem as exc:
        raise Poison("unknown_item", exc.message) from None
    except Exception as exc:
        refused = database_refused(exc)
        if refused is None:
            raise
        raise refused from None


def _bump(parsed) -> None:
    from shared.adapters.redis_cache import get_redis
    from shared.domains.catalogues.interactions import bump_history_version

    bump_history_version(get_redis(), parsed)


@router.route("POST", "/")
def push(request: flask.Request) -> flask.Response:
    require_caller(request, "interaction_sink", PUSH)
    from shared.adapters.aio import run_sync
    from shared.domains.catalogues.interactions import DEAD_LETTER_TOPIC

    body = envelope(request)
    try:
        parsed = _parse(body["message"])
        outcome = run_sync(_store(parsed))
    except Poison as poison:
        return answer_poison(body, poison, DEAD_LETTER_TOPIC)
    except Exception as exc:
        unavailable = postgres_unavailable(exc)
        if unavailable is None:
            raise
        return unavailable
    if outcome.inserted or outcome.recent_duplicate:
        try:
            _bump(parsed)
        except Exception as exc:  # noqa: BLE001 - stored, but the cache would not know: let Pub/Sub redeliver
            log.warning("stored %s but could not bump its history version: %s", parsed.event_id, exc)
            return transient(f"redis unavailable: {exc.__class__.__name__}")
    return flask.Response(status=204, headers={"X-Interaction-Outcome": "inserted" if outcome.inserted else "duplicate"})


@functions_framework.http
@endpoint
def handle(request: flask.Request) -> flask.Response:
    return router.dispatch(request)

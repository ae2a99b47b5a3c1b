"""Suggestion events: impressions (logged by /v1/suggest, or confirmed by a client), clicks and conversions, all
through the `suggest-events` topic into suggest_events (migration 054), each stored once.

Event ids are derived, never chosen by the client: "<type>:<impression_id>". So an impression logged by the server
and confirmed by the client is one row, a click sent twice (a retry, a double tap, a Pub/Sub redelivery) is one
row, and a list's click-through is never double-counted: at most one click and one conversion per impression.

What is refused where:
- POST /v1/events (synchronous, 400 naming the field): an unknown type, a malformed body, and an impression id this
  service did not issue (its signature does not verify, impressions.py): `events[i].impression_id`.
- the sink (asynchronous): a click or conversion whose impression row is not stored. The impression is published
  by /v1/suggest before the response returns, so it is normally stored first; when it is not yet, the sink answers
  422 and Pub/Sub redelivers with backoff (1 s .. 60 s); after max_delivery_attempts (5) the message is
  dead-lettered to `suggest-events-dead-letter` with reason `impression_not_found` and counts nothing.
"""
from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.domains.catalogues.suggest import impressions
from shared.domains.catalogues.suggest.schemas import EventsIn
from shared.domains.errors import DomainError, InvalidRequest, NotFound

TOPIC = "suggest-events"
SUBSCRIPTION = "suggest-events-to-sink"
DEAD_LETTER_TOPIC = "suggest-events-dead-letter"
PUBLISH_TIMEOUT_S = 10.0


class PublishFailed(DomainError):
    kind = "unavailable"
    code = "unavailable"


class ImpressionNotStored(NotFound):
    pass


class EventMessage(BaseModel):
    """A message on the topic. Impressions carry everything; clicks and conversions only their impression id (the
    sink copies user, item, arm and model from the stored impression)."""

    model_config = ConfigDict(extra="forbid")
    event_id: str
    type: str
    impression_id: str
    timestamp: datetime
    value: float | None = None
    request_id: str | None = None
    user_id: str | None = None
    item_id: str | None = None
    surface: str | None = None
    position: int | None = None
    score: float | None = None
    served_by: str | None = None
    model_version: str | None = None
    experiment: str | None = None
    arm: str | None = None
    propensity: float | None = None
    context: dict[str, Any] | None = None


def to_messages(body: EventsIn) -> list[dict]:
    """Validated client events as messages, in order, duplicates within the call kept once. A client impression is
    a confirmation of one the server logged: it carries only the id, and the sink treats it as a duplicate."""
    out: dict[str, dict] = {}
    received = datetime.now(UTC)
    for i, e in enumerate(body.events):
        if impressions.verify(e.impression_id) is None:
            raise InvalidRequest("not an impression id this service issued (take it from a /v1/suggest answer)",
                                 f"events[{i}].impression_id")
        event_id = f"{e.type}:{e.impression_id}"
        out.setdefault(event_id, {"event_id": event_id, "type": e.type, "impression_id": e.impression_id,
                                  "timestamp": (e.timestamp or received).isoformat(), "value": e.value})
    return list(out.values())


def publish_events(messages: list[dict], publish=None, timeout: float = PUBLISH_TIMEOUT_S) -> list[str]:
    """Publish and wait for Pub/Sub's acknowledgement of each (accepted means it will be stored)."""
    if publish is None:
        from shared.adapters.pubsub import publish_json as publish
    futures = [(m["event_id"], publish(TOPIC, m, event_id=m["event_id"], event_type=m["type"])) for m in messages]
    failed = []
    for event_id, future in futures:
        try:
            future.result(timeout=timeout)
        except Exception as exc:  # noqa: BLE001
            failed.append(f"{event_id}: {type(exc).__name__}")
    if failed:
        raise PublishFailed(f"{len(failed)} of {len(futures)} events were not acknowledged by Pub/Sub; retry them "
                            "(they are stored once)", "events")
    return [event_id for event_id, _ in futures]


async def accept_events(body: EventsIn) -> dict:
    messages = to_messages(body)
    ids = await asyncio.to_thread(publish_events, messages)
    return {"accepted": len(ids), "event_ids": ids}


# --- the sink's side ------------------------------------------------------------------------------------------------
_INSERT_IMPRESSION = """
INSERT INTO suggest_events (event_id, event_type, impression_id, request_id, user_id, item_id, surface, position,
                            score, served_by, model_version, experiment, arm, propensity, context, occurred_at)
VALUES ($1, 'impression', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::text::jsonb, $15)
ON CONFLICT (event_id) DO NOTHING
RETURNING 1
"""

_INSERT_OUTCOME = """
WITH imp AS (SELECT * FROM suggest_events WHERE event_id = 'impression:' || $3),
ins AS (
    INSERT INTO suggest_events (event_id, event_type, impression_id, request_id, user_id, item_id, surface, position,
                                score, served_by, model_version, experiment, arm, propensity, value, occurred_at)
    SELECT $1, $2, imp.impression_id, imp.request_id, imp.user_id, imp.item_id, imp.surface, imp.position,
           imp.score, imp.served_by, imp.model_version, imp.experiment, imp.arm, imp.propensity, $4, $5 FROM imp
    ON CONFLICT (event_id) DO NOTHING
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM imp) AS impression_known, EXISTS (SELECT 1 FROM ins) AS inserted
"""


async def store_event(conn, m: EventMessage) -> bool:
    """Insert once; True when inserted, False for a duplicate. A click/conversion without its stored impression
    raises ImpressionNotStored (the sink retries it, then dead-letters it)."""
    if m.event_id != f"{m.type}:{m.impression_id}":
        raise InvalidRequest("event_id must be '<type>:<impression_id>'", "event_id")
    if m.type == "impression":
        if m.user_id is None:
            # a client's confirmation: a duplicate of the logged impression when that is stored
            row = await conn.fetchrow("SELECT 1 FROM suggest_events WHERE event_id = $1", m.event_id)
            if row is None:
                raise ImpressionNotStored(f"impression {m.impression_id} is not stored yet", "impression_id")
            return False
        row = await conn.fetchrow(_INSERT_IMPRESSION, m.event_id, m.impression_id, m.request_id, m.user_id,
                                  m.item_id, m.surface, m.position, m.score, m.served_by, m.model_version,
                                  m.experiment, m.arm, m.propensity, json.dumps(m.context or {}), m.timestamp)
        return row is not None
    if m.type not in ("click", "conversion"):
        raise InvalidRequest(f"unknown event type {m.type!r}", "type")
    row = await conn.fetchrow(_INSERT_OUTCOME, m.event_id, m.type, m.impression_id, m.value, m.timestamp)
    if not row["impression_known"]:
        raise ImpressionNotStored(f"no stored impression {m.impression_id} for this {m.type}", "impression_id")
    return bool(row["inserted"])

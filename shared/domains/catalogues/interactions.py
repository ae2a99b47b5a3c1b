"""Interactions as a stream: published to the `catalogue-interactions` topic, one message per event, and stored
once by the interaction sink (functions/interaction_sink), push subscription `catalogue-interactions-to-sink`.

A message is the JSON of InteractionMessage (below) with the attributes
    catalogue=<catalogue id>, event_id=<stored event id>, event_type=<event type>
Its event_id is already the stored one (contract.stored_event_id: scoped to the catalogue, derived when the event
came without one), so a republished or redelivered event is a duplicate for the sink: acked, not counted again.

What the sink does with one message (store_interaction, then bump_history_version):
- a new event: one row in catalogue_interactions, catalogues.interaction_count + 1, and the user's history version
  (store.history_version_key) INCRed in Redis, so the recommendations cache recomputes that user's lists;
- a duplicate: nothing (a history version already bumped for it is not bumped again);
- an unknown catalogue or item: UnknownCatalogue / UnknownItem (the sink dead-letters the message).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from shared.domains.catalogues import store
from shared.domains.catalogues.contract import (ContractError, Interaction, RowError, parse_timestamp,
                                                validate_catalogue_id)
from shared.domains.errors import DomainError, InvalidRequest, NotFound

TOPIC = "catalogue-interactions"
SUBSCRIPTION = "catalogue-interactions-to-sink"
DEAD_LETTER_TOPIC = "catalogue-interactions-dead-letter"
PUBLISH_TIMEOUT_S = 10.0
MAX_EVENTS = 500
# how long the sink remembers that an event's history-version bump happened (as long as Pub/Sub may redeliver it)
BUMP_MARKER_TTL_S = 7 * 24 * 3600


class UnknownCatalogue(NotFound):
    pass


class UnknownItem(NotFound):
    pass


class PublishFailed(DomainError):
    """Pub/Sub did not acknowledge every publish: nothing is promised; retry with the same events (same ids)."""

    kind = "unavailable"
    code = "unavailable"

    def __init__(self, message: str, failures: dict[str, str], published: list[str]):
        super().__init__(message, "events")
        self.failures = failures      # event id -> reason
        self.published = published    # event ids Pub/Sub acknowledged


class InteractionMessage(BaseModel):
    """The body of one message on the topic (and what the sink validates)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    catalogue_id: str
    event_id: str
    user_id: str
    item_id: str
    event_type: str
    weight: float
    timestamp: datetime

    @field_validator("catalogue_id")
    @classmethod
    def _catalogue(cls, v: str) -> str:
        try:
            return validate_catalogue_id(v)
        except ContractError as exc:
            raise ValueError(exc.errors[0].message) from None

    @field_validator("timestamp", mode="before")
    @classmethod
    def _ts(cls, v: Any) -> datetime:
        return parse_timestamp(v)

    @field_validator("event_id")
    @classmethod
    def _event_id(cls, v: str, info) -> str:
        catalogue = info.data.get("catalogue_id")
        if catalogue and not v.startswith(f"{catalogue}:"):
            raise ValueError(f"must be scoped to its catalogue ('{catalogue}:...')")
        return v

    @classmethod
    def from_event(cls, catalogue_id: str, event: Interaction) -> InteractionMessage:
        # validated already (Interaction): built without re-checking
        return cls.model_construct(catalogue_id=catalogue_id, event_id=event.stored_event_id(catalogue_id),
                                   user_id=event.user_id, item_id=event.item_id, event_type=event.event_type,
                                   weight=event.weight, timestamp=event.timestamp)

    def payload(self) -> dict[str, Any]:
        return {"catalogue_id": self.catalogue_id, "event_id": self.event_id, "user_id": self.user_id,
                "item_id": self.item_id, "event_type": self.event_type, "weight": self.weight,
                "timestamp": self.timestamp.isoformat()}

    def attributes(self) -> dict[str, str]:
        return {"catalogue": self.catalogue_id, "event_id": self.event_id, "event_type": self.event_type}


def to_messages(catalogue_id: str, events: Iterable[Interaction | Mapping[str, Any]]) -> list[InteractionMessage]:
    """Validate events (contract.Interaction); every invalid one is reported as events[i].<field>."""
    validate_catalogue_id(catalogue_id)
    out, errors = [], []
    for i, raw in enumerate(events):
        try:
            event = raw if isinstance(raw, Interaction) else Interaction.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors(include_url=False, include_context=False, include_input=False):
                path = ".".join(str(p) for p in err["loc"]) or "event"
                errors.append(RowError("events", i + 1, path, err["msg"].removeprefix("Value error, ")))
            continue
        out.append(InteractionMessage.from_event(catalogue_id, event))
    if errors:
        raise ContractError(errors)
    if len(out) > MAX_EVENTS:
        raise InvalidRequest(f"at most {MAX_EVENTS} events per call, got {len(out)}", "events")
    return out


Publish = Callable[..., Future]


def _default_publish() -> Publish:
    from shared.adapters.pubsub import publish_json

    return publish_json


def publish_interaction_events(catalogue_id: str, events: Iterable[Interaction | Mapping[str, Any]], *,
                               publish: Publish | None = None, timeout: float = PUBLISH_TIMEOUT_S) -> list[str]:
    """Publish each event to TOPIC (one message each) and wait until Pub/Sub acknowledged every one.

    `publish(topic, payload, **attributes) -> Future` defaults to shared.adapters.pubsub.publish_json (the
    settings' project; the emulator through PUBSUB_EMULATOR_HOST). Returns the stored event ids in order. Raises
    ContractError for an invalid event (nothing published), PublishFailed when an acknowledgement failed.
    Whether the catalogue and items exist is the sink's check (an unknown one is dead-lettered); callers that
    answer a client check them first (known_items)."""
    messages = to_messages(catalogue_id, events)
    send = publish or _default_publish()
    futures = [(m.event_id, send(TOPIC, m.payload(), **m.attributes())) for m in messages]
    failures: dict[str, str] = {}
    published: list[str] = []
    for event_id, future in futures:
        try:
            future.result(timeout=timeout)
            published.append(event_id)
        except Exception as exc:  # noqa: BLE001 - any failure means "not accepted"
            failures[event_id] = f"{exc.__class__.__name__}: {exc}"[:300]
    if failures:
        raise PublishFailed(f"{len(failures)} of {len(futures)} events were not acknowledged by Pub/Sub; retry "
                            "them with the same event ids (they are stored once)", failures, published)
    return [m.event_id for m in messages]


async def publish_interaction_events_async(catalogue_id: str, events, **kwargs) -> list[str]:
    """publish_interaction_events off the event loop (waiting for Pub/Sub's acks blocks)."""
    return await asyncio.to_thread(publish_interaction_events, catalogue_id, list(events), **kwargs)


async def known_items(conn, catalogue_id: str, item_ids: Iterable[str]) -> set[str]:
    """Which of these item ids the catalogue has (for an edge that wants to refuse unknown items with a 4xx)."""
    ids = list(dict.fromkeys(item_ids))
    rows = await conn.fetch("SELECT item_id FROM catalogue_items WHERE catalogue_id = $1 AND item_id = ANY($2::text[])",
                            catalogue_id, ids)
    return {r["item_id"] for r in rows}


# --- the sink's side ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoreOutcome:
    inserted: bool                 # False: a duplicate (already stored)
    recent_duplicate: bool = False  # a duplicate whose row was stored within BUMP_MARKER_TTL_S (or just now)


_INSERT = """
WITH cat AS (SELECT id FROM catalogues WHERE id = $2),
item AS (SELECT item_id FROM catalogue_items WHERE catalogue_id = $2 AND item_id = $4),
ins AS (
    INSERT INTO catalogue_interactions (event_id, catalogue_id, user_id, item_id, event_type, weight, occurred_at)
    SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM item)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING 1
),
bumped AS (
    UPDATE catalogues SET interaction_count = interaction_count + 1
     WHERE id = $2 AND EXISTS (SELECT 1 FROM ins)
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM cat) AS catalogue_known, EXISTS (SELECT 1 FROM item) AS item_known,
       EXISTS (SELECT 1 FROM ins) AS inserted,
       (SELECT received_at > now() - make_interval(secs => $8) FROM catalogue_interactions WHERE event_id = $1)
           AS stored_recently
"""


async def store_interaction(conn, message: InteractionMessage) -> StoreOutcome:
    """Insert one event once; interaction_count moves only on a real insert (same statement)."""
    row = await conn.fetchrow(_INSERT, message.event_id, message.catalogue_id, message.user_id, message.item_id,
                              message.event_type, message.weight, message.timestamp, float(BUMP_MARKER_TTL_S))
    if not row["catalogue_known"]:
        raise UnknownCatalogue(f"no catalogue {message.catalogue_id!r}: import it first", "catalogue_id")
    if not row["item_known"]:
        raise UnknownItem(f"no item {message.item_id!r} in catalogue {message.catalogue_id!r}", "item_id")
    if row["inserted"]:
        return StoreOutcome(inserted=True)
    # the conflicting row is in the statement's snapshot unless it was committed meanwhile (None): recent either way
    return StoreOutcome(inserted=False, recent_duplicate=row["stored_recently"] is not False)


# SET the event's marker only if absent, and INCR the user's history version only then: one bump per stored event,
# even when the sink stored the row, failed before bumping, and sees the redelivery as a duplicate.
_BUMP = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then
    return redis.call('INCR', KEYS[1])
end
return false
"""


def bump_marker_key(event_id: str) -> str:
    return f"recs:hv-bumped:{event_id}"


def bump_history_version(redis, message: InteractionMessage) -> int | None:
    """INCR store.history_version_key(catalogue, user) once per event id (sync client); the new version, or None
    when this event already bumped it."""
    value = redis.eval(_BUMP, 2, store.history_version_key(message.catalogue_id, message.user_id),
                       bump_marker_key(message.event_id), BUMP_MARKER_TTL_S)
    return int(value) if value is not None else None

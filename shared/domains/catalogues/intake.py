"""Interactions a client sends (POST /v1/catalogues/{catalogue}/interactions): checked against the catalogue, then
published one message each to the catalogue-interactions topic, where the sink stores each event once.

The catalogue and the items are checked here, so that a client hears about an unknown item as a 400 naming it
(events.<i>.item_id) instead of the event being dead-lettered later; what is accepted, the sink stores.
"""
from __future__ import annotations

from datetime import UTC, datetime

from shared.domains.catalogues import store
from shared.domains.catalogues.interactions import known_items, publish_interaction_events_async
from shared.domains.catalogues.schemas import InteractionIn
from shared.domains.catalogues.view_models import InteractionsAccepted
from shared.domains.errors import InvalidRequest, NotFound


async def accept_interactions(conn, catalogue_id: str, events: list[InteractionIn]) -> dict:
    if await store.get_catalogue(conn, catalogue_id) is None:
        raise NotFound(f"no catalogue {catalogue_id!r}; import it first (jobs.import_catalogue)", "catalogue")
    have = await known_items(conn, catalogue_id, [e.item_id for e in events])
    for i, event in enumerate(events):
        if event.item_id not in have:
            raise InvalidRequest(f"catalogue {catalogue_id!r} has no item {event.item_id!r}", f"events.{i}.item_id")
    received = datetime.now(UTC).isoformat()
    rows = [{"user_id": e.user_id, "item_id": e.item_id, "event_type": e.event_type, "weight": e.weight,
             "timestamp": e.timestamp or received, **({"event_id": e.event_id} if e.event_id else {})}
            for e in events]
    ids = await publish_interaction_events_async(catalogue_id, rows)
    return InteractionsAccepted(accepted=len(ids), event_ids=ids).model_dump()

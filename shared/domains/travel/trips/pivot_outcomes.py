"""What the traveller did with a pivot the system proposed: accepted it, dismissed it, or ignored it.

A pivot (venue_closed, weather, mood) puts a venue the system chose into a slot. The client answers with a
pivot_accept or pivot_dismiss signal that names the pivot (context.pivot_id, the `pivot_id` of the changed slot
in the pivot's response). Silence is an answer too, and the learning loop needs it: a proposal nobody reacted to
is weak evidence against it, and without it only the answered proposals would be counted. So when neither answer
has arrived `pivot_ignored_after_s` after the pivot, the proposal is recorded as pivot_ignore.

Flow: `pivots` topic -> the pivot_outcomes function (push) -> one Cloud Task per proposed venue, scheduled for
the deadline -> at the deadline the task looks for the traveller's answer and, finding none, publishes a
pivot_ignore signal to the `signals` topic. It reaches behavioral_signals through the same idempotent sink as a
client's signal; its event id is derived from the pivot, so a redelivered task stores it once.
"""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.domains.errors import InvalidRequest

ANSWERS = {"pivot_accept": "accepted", "pivot_dismiss": "dismissed"}
PIVOT_EVENT = "pivot"   # swaps are the traveller's own choice and are recorded by the swap (slot_swap)


class Proposal(BaseModel):
    """One venue a pivot proposed, as the deferred task carries it."""

    model_config = ConfigDict(extra="forbid")

    pivot_id: str = Field(min_length=1, max_length=32, pattern=r"^[0-9]+$")
    user_id: str = Field(min_length=1, max_length=128)
    trip_id: str = Field(min_length=1, max_length=128)
    activity_node_id: str = Field(min_length=1, max_length=128)
    slot_id: str = Field(min_length=1, max_length=128)
    day_of_trip: int = Field(ge=1, le=366)
    day_part: str | None = None
    pivot_type: str = Field(min_length=1, max_length=32)
    model_version: str | None = Field(None, max_length=128)
    proposed_at: AwareDatetime


def proposals(event: Any, proposed_at: datetime) -> list[Proposal]:
    """The proposals in one `pivots` topic message (empty for events that propose nothing, such as a swap).
    Raises InvalidRequest naming the field when a pivot event does not have the shape pivots.announce gives it."""
    if not isinstance(event, dict):
        raise InvalidRequest("message.data: a pivot event must be a JSON object", "message.data")
    if event.get("event") != PIVOT_EVENT:
        return []
    out = []
    for i, slot in enumerate(event.get("changed") or []):
        field = f"changed[{i}]"
        if not isinstance(slot, dict) or not isinstance(slot.get("venue"), dict):
            raise InvalidRequest(f"{field}: expected a slot with a venue", field)
        try:
            out.append(Proposal(pivot_id=str(slot.get("pivot_id") or ""), user_id=event.get("user_id") or "",
                                trip_id=event.get("trip_id") or "", activity_node_id=slot["venue"].get("id") or "",
                                slot_id=slot.get("slot_id") or "", day_of_trip=slot.get("day") or 0,
                                day_part=slot.get("day_part"), pivot_type=event.get("type") or "pivot",
                                model_version=event.get("served_by"), proposed_at=proposed_at))
        except ValidationError as exc:
            err = exc.errors(include_url=False, include_input=False)[0]
            name = ".".join(str(x) for x in err["loc"])
            raise InvalidRequest(f"{field}.{name}: {err['msg']}", f"{field}.{name}") from None
    return out


def task_id(p: Proposal) -> str:
    """Deterministic, so a redelivered pivots message enqueues nothing new (Cloud Tasks refuses the name)."""
    digest = hashlib.blake2b(f"{p.trip_id}|{p.pivot_id}|{p.activity_node_id}".encode(), digest_size=8).hexdigest()
    return f"pivot-outcome-{p.pivot_id}-{digest}"


async def answer(conn, p: Proposal) -> str | None:
    """'accepted' or 'dismissed' when the traveller answered this proposal (naming the pivot, or about the same
    venue in the same trip since it was proposed), else None."""
    signal_type = await conn.fetchval(
        "SELECT signal_type FROM behavioral_signals WHERE user_id = $1 AND signal_type = ANY($2::text[])"
        " AND (context->>'pivot_id' = $3 OR (trip_id = $4 AND activity_node_id = $5 AND created_at >= $6))"
        " ORDER BY created_at LIMIT 1",
        p.user_id, list(ANSWERS), p.pivot_id, p.trip_id, p.activity_node_id, p.proposed_at)
    return ANSWERS.get(signal_type) if signal_type else None


def ignore_record(p: Proposal, now: datetime) -> dict:
    from shared.engine.events.validation import server_record

    return server_record(p.user_id, "pivot_ignore", p.activity_node_id, p.trip_id,
                         {"pivot_id": p.pivot_id, "slot_id": p.slot_id, "day_of_trip": p.day_of_trip,
                          "day_part": p.day_part}, p.model_version, f"pivot_ignore|{p.trip_id}|{p.pivot_id}", now)

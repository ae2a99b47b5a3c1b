"""Validation of client signals, item by item, so one bad signal in a batch never hides or sinks the others.

Three stages, cheapest first: the schema (pydantic), the rules the schema cannot express (who may send what,
which types need an item, how old a signal may be), then the ids against Postgres in one round trip for the
whole batch. Each failure is an `ItemError` that names the field, ready for a 4xx body.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from shared.api.errors import field_path
from shared.engine.events.anonymise import PSEUDONYM_PREFIX
from shared.engine.events.schema import (
    ITEM_TYPES,
    MAX_BACKFILL_AGE_DAYS,
    MAX_CLOCK_SKEW_S,
    MAX_IN_APP_AGE_DAYS,
    SERVER_ONLY_TYPES,
    SignalIn,
)
from shared.engine.events.weights import weight_for


@dataclass(frozen=True)
class ItemError:
    status: int
    code: str
    message: str
    field: str

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "field": self.field}


def _join(prefix: str, loc: tuple[Any, ...]) -> str:
    return field_path((prefix, *loc) if prefix else loc)


def _invalid(prefix: str, loc: tuple[Any, ...], message: str) -> ItemError:
    path = _join(prefix, loc)
    return ItemError(400, "invalid_argument", f"{path}: {message}", path)


def parse_signal(raw: Any, caller: str, now: datetime, prefix: str = "") -> SignalIn | ItemError:
    """Schema and rules for one signal; `prefix` is the item's place in the request (e.g. 'signals[3]')."""
    if not isinstance(raw, dict):
        return _invalid(prefix, (), "each signal must be a JSON object")
    try:
        sig = SignalIn.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_context=False, include_input=False)[0]
        return _invalid(prefix, tuple(err["loc"]), err["msg"])
    if sig.event_id is not None and sig.event_id.startswith(PSEUDONYM_PREFIX):
        return _invalid(prefix, ("event_id",), f"the prefix {PSEUDONYM_PREFIX!r} is reserved for anonymised events")
    if sig.signal_type in SERVER_ONLY_TYPES:
        return _invalid(prefix, ("signal_type",),
                        f"{sig.signal_type} is logged by the server for each generated trip; clients cannot send it")
    if sig.signal_type in ITEM_TYPES and sig.activity_node_id is None:
        return _invalid(prefix, ("activity_node_id",), f"required for {sig.signal_type}: the venue acted on")
    if sig.user_id is not None and sig.user_id != caller:
        path = _join(prefix, ("user_id",))
        return ItemError(403, "permission_denied", f"{path}: a signal can only be recorded for the caller", path)
    if sig.occurred_at is not None:
        if sig.occurred_at > now + timedelta(seconds=MAX_CLOCK_SKEW_S):
            return _invalid(prefix, ("occurred_at",), "is in the future")
        max_age = MAX_BACKFILL_AGE_DAYS if sig.source == "backfill" else MAX_IN_APP_AGE_DAYS
        if sig.occurred_at < now - timedelta(days=max_age):
            return _invalid(prefix, ("occurred_at",), f"is older than {max_age} days for a {sig.source} signal")
    return sig


def duplicate_event_ids(items: list[tuple[int, SignalIn]], prefix_of) -> dict[int, ItemError]:
    """A batch that repeats a client event id is a client bug: the later copies are refused, not merged."""
    seen: set[str] = set()
    errors: dict[int, ItemError] = {}
    for index, sig in items:
        if sig.event_id is None:
            continue
        if sig.event_id in seen:
            errors[index] = _invalid(prefix_of(index), ("event_id",), "repeats an earlier event_id in this batch")
        seen.add(sig.event_id)
    return errors


async def check_references(pool, caller: str, items: list[tuple[int, SignalIn]], prefix_of) -> dict[int, ItemError]:
    """The caller, venues and trips must exist, and a trip must be the caller's: one query for the whole batch."""
    node_ids = sorted({s.activity_node_id for _, s in items if s.activity_node_id})
    trip_ids = sorted({s.trip_id for _, s in items if s.trip_id})
    row = await pool.fetchrow(
        """
        SELECT EXISTS (SELECT 1 FROM users WHERE id = $1) AS user_exists,
               ARRAY(SELECT id FROM activity_nodes WHERE id = ANY($2::text[])) AS nodes,
               ARRAY(SELECT coalesce(user_id, '') FROM trips WHERE id = ANY($3::text[]) ORDER BY id) AS owners,
               ARRAY(SELECT id FROM trips WHERE id = ANY($3::text[]) ORDER BY id) AS owned_ids
        """,
        caller, node_ids, trip_ids,
    )
    known_nodes = set(row["nodes"])
    owner = dict(zip(row["owned_ids"], row["owners"]))
    errors: dict[int, ItemError] = {}
    for index, sig in items:
        prefix = prefix_of(index)
        if not row["user_exists"]:
            path = _join(prefix, ("user_id",))
            errors[index] = ItemError(404, "not_found", f"{path}: no user {caller!r}; plan a trip first", path)
        elif sig.activity_node_id and sig.activity_node_id not in known_nodes:
            path = _join(prefix, ("activity_node_id",))
            errors[index] = ItemError(404, "not_found", f"{path}: no venue {sig.activity_node_id!r}", path)
        elif sig.trip_id and sig.trip_id not in owner:
            path = _join(prefix, ("trip_id",))
            errors[index] = ItemError(404, "not_found", f"{path}: no trip {sig.trip_id!r}", path)
        elif sig.trip_id and owner[sig.trip_id] not in ("", caller):
            path = _join(prefix, ("trip_id",))
            errors[index] = ItemError(403, "permission_denied", f"{path}: trip {sig.trip_id!r} is not the caller's", path)
    return errors


def new_event_id() -> str:
    return str(uuid.uuid4())


def to_record(sig: SignalIn, caller: str, received_at: datetime) -> dict[str, Any]:
    """The normalised message published to the `signals` topic (read back by the sink as a SignalRecord)."""
    return {
        "event_id": sig.event_id or new_event_id(),
        "user_id": caller,
        "signal_type": sig.signal_type,
        "activity_node_id": sig.activity_node_id,
        "trip_id": sig.trip_id,
        "context": sig.context.model_dump(mode="json", exclude_none=True),
        "weight": weight_for(sig.source),
        "model_version": sig.model_version,
        "created_at": (sig.occurred_at or received_at).isoformat(),
        "source": sig.source,
    }


def server_record(user_id: str, signal_type: str, activity_node_id: str | None, trip_id: str | None,
                  context: dict, model_version: str | None, key: str, now: datetime) -> dict[str, Any]:
    """A signal the server observes itself (a swap made through the API), in the same record shape as a
    client's, so it reaches behavioral_signals through the same idempotent sink. `key` names the action
    uniquely: its event id is derived from it, so a retried request stores one signal."""
    import hashlib

    event_id = "srv-" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    sig = SignalIn.model_validate({"event_id": event_id, "signal_type": signal_type, "trip_id": trip_id,
                                   "activity_node_id": activity_node_id, "context": context,
                                   "model_version": model_version})
    return to_record(sig, user_id, now)

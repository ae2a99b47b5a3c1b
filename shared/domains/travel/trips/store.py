"""Trips in Postgres: one transaction writes a trip and its slots; reads are two indexed queries.

Ownership: a trip belongs to its creator (trips.user_id) and, for group trips, to every member
(trips.member_ids); `load_trip_for` returns None for anyone else, so callers answer 404 and never
reveal that someone else's trip exists.
"""
from __future__ import annotations

import json
import secrets
from typing import Any

TRIP_COLUMNS = ("id, user_id, group_id, city_id, start_date, end_date, status, request, served_by, model_version, "
                "fallbacks, meta, member_ids, created_at")
SLOT_COLUMNS = ("id, trip_id, day_number, slot_order, day_part, activity_node_id, generated_narrative, model_version, "
                "serves, venue, arrive, score, details")


SLOT_FIELDS = ("id", "day_number", "slot_order", "day_part", "activity_node_id", "narrative", "model_version",
               "serves", "venue", "arrive", "score", "details")


def new_trip_id() -> str:
    return "trp_" + secrets.token_hex(8)


def slot_id(trip_id: str, day: int, order: int) -> str:
    return f"{trip_id}-{day}-{order}"


USER_COLUMNS = "id, persona_embedding, persona_description, onboarding_tags, signal_count"


async def ensure_user(conn, user_id: str) -> Any:
    """Read the user, creating the row only when it is missing: a returning user costs one read and no
    write (an upsert would commit, and wait for the WAL flush, on every request)."""
    row = await conn.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)
    if row is not None:
        return row
    return await conn.fetchrow(
        "INSERT INTO users (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id "
        f"RETURNING {USER_COLUMNS}", user_id)


async def load_users(conn, user_ids: list[str]) -> dict[str, Any]:
    rows = await conn.fetch(f"SELECT {USER_COLUMNS} FROM users WHERE id = ANY($1::text[])", user_ids)
    return {r["id"]: r for r in rows}


async def save_persona(conn, user_id: str, tags_json: dict, description: str, embedding) -> None:
    await conn.execute(
        "UPDATE users SET onboarding_tags = $2, persona_description = $3, persona_embedding = $4 WHERE id = $1",
        user_id, tags_json, description, embedding)


async def insert_trip(conn, trip: dict, slots: list[dict]) -> None:
    """The trip and all its slots in one statement: atomic, and one round trip however long the trip."""
    await conn.execute(
        "WITH t AS (INSERT INTO trips (id, user_id, city_id, start_date, end_date, status, request, served_by,"
        " model_version, fallbacks, meta, member_ids) VALUES ($1,$2,$3,$4,$5,'planned',$6,$7,$8,$9,$10,$11)"
        " RETURNING id)"
        " INSERT INTO itinerary_slots (id, trip_id, day_number, slot_order, day_part, activity_node_id,"
        " generated_narrative, model_version, serves, venue, arrive, score, details)"
        " SELECT r.id, t.id, r.day_number, r.slot_order, r.day_part, r.activity_node_id, r.narrative,"
        " r.model_version, r.serves, r.venue, r.arrive, r.score, r.details"
        " FROM t, jsonb_to_recordset($12::jsonb) AS r(id text, day_number smallint, slot_order smallint,"
        " day_part text, activity_node_id text, narrative text, model_version text, serves jsonb,"
        " venue jsonb, arrive text, score real, details jsonb)",
        trip["id"], trip["user_id"], trip["city_id"], trip["start_date"], trip["end_date"], trip["request"],
        trip["served_by"], trip["model_version"], trip["fallbacks"], trip["meta"], trip["member_ids"],
        [{k: s[k] for k in SLOT_FIELDS} for s in slots])


async def load_trip_for(conn, trip_id: str, user_id: str) -> tuple[dict, list[dict]] | None:
    trip = await conn.fetchrow(
        f"SELECT {TRIP_COLUMNS} FROM trips WHERE id = $1 AND (user_id = $2 OR $2 = ANY(member_ids))", trip_id, user_id)
    if trip is None:
        return None
    slots = await conn.fetch(f"SELECT {SLOT_COLUMNS} FROM itinerary_slots WHERE trip_id = $1 "
                             "ORDER BY day_number, slot_order", trip_id)
    return dict(trip), [dict(s) for s in slots]


async def replace_slot_venue(conn, trip_id: str, slot: str, venue: dict, narrative: str, model_version: str,
                             fallbacks: dict | None, pivot_kind: str, payload: dict, details: dict) -> int:
    """Swap one slot's venue, update the stored fallbacks and record the pivot, atomically; returns the pivot's id
    (trip_pivots.id), which the traveller's accept or dismiss names."""
    async with conn.transaction():
        node_id = venue.get("id") if venue.get("catalogued", True) else None
        await conn.execute(
            "UPDATE itinerary_slots SET activity_node_id = $3, venue = $4, generated_narrative = $5, model_version = $6,"
            " details = $7, updated_at = now() WHERE id = $2 AND trip_id = $1",
            trip_id, slot, node_id, venue, narrative, model_version, details)
        if fallbacks is not None:
            await conn.execute("UPDATE trips SET fallbacks = $2 WHERE id = $1", trip_id, fallbacks)
        return await conn.fetchval("INSERT INTO trip_pivots (trip_id, kind, payload) VALUES ($1, $2, $3) RETURNING id",
                                   trip_id, pivot_kind, payload)


async def update_slot_narrative(conn, trip_id: str, slot: str, narrative: str, details: dict) -> None:
    await conn.execute("UPDATE itinerary_slots SET generated_narrative = $3, details = $4, updated_at = now()"
                       " WHERE id = $2 AND trip_id = $1", trip_id, slot, narrative, details)


async def has_completed_trip(conn, user_id: str, city_id: str) -> bool:
    """Whether the traveller has been to this city with us before (a completed trip): a first visit gets landmarks."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM trips WHERE city_id = $2 AND status = 'completed'"
        " AND (user_id = $1 OR $1 = ANY(member_ids)))", user_id, city_id))


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)

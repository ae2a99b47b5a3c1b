"""The idempotent insert behind the signal sink: at-least-once delivery in, exactly-once rows out.

Pub/Sub may deliver a message twice, and a client may retry with the same event id; the unique event_id makes
the second insert a no-op, and users.signal_count is bumped in the same transaction only when a row was really
inserted, so the cold/warm boundary never counts a signal twice.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.engine.events.anonymise import anonymise_fields, load_salt, pseudonym
from shared.engine.events.schema import COUNTED_TYPES, SignalRecord, utcnow

_INSERT = """
INSERT INTO behavioral_signals
    (event_id, user_id, signal_type, activity_node_id, trip_id, context, weight, model_version, created_at)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9)
ON CONFLICT (event_id) DO NOTHING
RETURNING id
"""

# The common case (the user exists) in one statement, so one round trip: lock the user row, insert, and count
# the signal only if the insert really happened. If the user row is missing nothing is written and the caller
# takes the slow path (deleted user? see anonymise.py).
_INSERT_FOR_EXISTING_USER = """
WITH u AS (SELECT id FROM users WHERE id = $2 FOR NO KEY UPDATE),
ins AS (
    INSERT INTO behavioral_signals
        (event_id, user_id, signal_type, activity_node_id, trip_id, context, weight, model_version, created_at)
    SELECT $1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM u)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING id
),
counted AS (
    UPDATE users SET signal_count = signal_count + 1
     WHERE id = $2 AND $10::boolean AND EXISTS (SELECT 1 FROM ins)
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM u) AS user_exists, EXISTS (SELECT 1 FROM ins) AS inserted,
       EXISTS (SELECT 1 FROM counted) AS counted
"""


@dataclass(frozen=True)
class InsertOutcome:
    inserted: bool  # False: a duplicate (already stored)
    counted: bool  # users.signal_count was incremented
    anonymised: bool  # the user had been deleted; the row was stored under the pseudonym


async def insert_signal(pool, record: SignalRecord, *, default_time: datetime | None = None) -> InsertOutcome:
    """Store one signal once. `default_time` (the Pub/Sub publish time) dates a record that carries no time, so
    redeliveries of the same message all carry the same created_at."""
    fields = {
        "event_id": record.event_id,
        "user_id": record.user_id,
        "trip_id": record.trip_id,
        "context": record.context_json(),
    }
    created_at = record.created_at or default_time or utcnow()
    row = await pool.fetchrow(
        _INSERT_FOR_EXISTING_USER,
        record.event_id, record.user_id, record.signal_type, record.activity_node_id, record.trip_id,
        fields["context"], record.weight, record.model_version, created_at,  # the pool encodes jsonb
        record.signal_type in COUNTED_TYPES,
    )
    if row["user_exists"]:
        return InsertOutcome(inserted=row["inserted"], counted=row["counted"], anonymised=False)
    return await _insert_without_user(pool, record, fields, created_at)


async def _insert_without_user(pool, record: SignalRecord, fields: dict, created_at: datetime) -> InsertOutcome:
    """No users row: a deleted user's late signal is stored anonymised; anyone else's as sent, uncounted."""
    async with pool.acquire() as conn, conn.transaction():
        # Lock as the deletion does (users row first); the row is normally absent, but it may be being re-created.
        user_exists = await conn.fetchval(
            "SELECT true FROM users WHERE id = $1 FOR NO KEY UPDATE", record.user_id
        )
        anonymised = False
        if not user_exists:
            salt = load_salt()
            deleted = await conn.fetchval(
                "SELECT true FROM anonymised_users WHERE pseudonym = $1", pseudonym("u", record.user_id, salt)
            )
            if deleted:
                fields = anonymise_fields(fields, salt)
                anonymised = True
        row_id = await conn.fetchval(
            _INSERT,
            fields["event_id"],
            fields["user_id"],
            record.signal_type,
            record.activity_node_id,
            fields["trip_id"],
            fields["context"],  # the pool encodes jsonb
            record.weight,
            record.model_version,
            created_at,
        )
        counted = False
        if row_id is not None and user_exists and record.signal_type in COUNTED_TYPES:
            await conn.execute("UPDATE users SET signal_count = signal_count + 1 WHERE id = $1", record.user_id)
            counted = True
    return InsertOutcome(inserted=row_id is not None, counted=counted, anonymised=anonymised)

"""Deleting a user keeps their signals as training data but cuts every link back to the person.

Pseudonyms are HMAC-SHA256 of the id under a secret salt (Secret Manager `SIGNAL_PSEUDONYM_SALT`): stable, so
one person's rows still form one history (and one trip's rows one session), yet not reversible and not
recomputable by anyone without the salt. Besides the user id, the trip id and the event id are re-keyed too:
both were handed to the client and may sit next to the person's identity in logs, so leaving them would let the
pseudonymous rows be joined back. Ids of rows that are deleted with the person (slots, pivots) are dropped
from the context.

A tombstone (`anonymised_users`, keyed by the pseudonym, itself not personal data) lets the sink recognise a
late signal of a deleted user still in flight in Pub/Sub and store it already anonymised, under the same
pseudonymous event id, so a retry after the deletion is still deduplicated.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

SALT_SECRET = "SIGNAL_PSEUDONYM_SALT"
PSEUDONYM_PREFIX = "anon-"
# Context keys that point at rows deleted with the person.
LINKING_CONTEXT_KEYS = ("slot_id", "pivot_id")
# The generation a signal answers is named by the candidate set's event id, which is re-keyed like every event id.
GENERATION_KEY = "candidate_set_event_id"


class PseudonymSaltMissing(RuntimeError):
    pass


def load_salt() -> bytes:
    from shared.adapters.secrets import get_secret

    try:
        salt = get_secret(SALT_SECRET)
    except Exception as exc:  # noqa: BLE001 - e.g. no Secret Manager credentials: same outcome, clearer message
        raise PseudonymSaltMissing(f"secret {SALT_SECRET} could not be read: {exc.__class__.__name__}: {exc}") from exc
    if not salt:
        raise PseudonymSaltMissing(
            f"secret {SALT_SECRET} is not set: create it in Secret Manager (the local stack exports one); "
            "anonymisation refuses to run without it rather than use a guessable key"
        )
    return salt.encode()


def pseudonym(kind: str, value: str, salt: bytes | None = None) -> str:
    """kind is 'u' (user), 't' (trip) or 'e' (event); the kind is part of the MAC so ids never collide across kinds."""
    if value.startswith(PSEUDONYM_PREFIX):
        return value  # already anonymised (a replayed message): re-keying twice would split the history
    digest = hmac.new(salt if salt is not None else load_salt(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"{PSEUDONYM_PREFIX}{kind}-{digest[:32]}"


def anonymise_fields(
    record: dict[str, Any], salt: bytes | None = None
) -> dict[str, Any]:
    """The same re-keying the deletion applies to stored rows, for a row not yet stored (used by the sink)."""
    salt = salt if salt is not None else load_salt()
    out = dict(record)
    out["user_id"] = pseudonym("u", record["user_id"], salt)
    out["event_id"] = pseudonym("e", record["event_id"], salt)
    if record.get("trip_id"):
        out["trip_id"] = pseudonym("t", record["trip_id"], salt)
    context = {k: v for k, v in (record.get("context") or {}).items() if k not in LINKING_CONTEXT_KEYS}
    if isinstance(context.get(GENERATION_KEY), str):
        context[GENERATION_KEY] = pseudonym("e", context[GENERATION_KEY], salt)
    out["context"] = context
    return out


Forget = Callable[[Any, str], Awaitable[Any]]   # (connection in the deletion's transaction, user id)


@dataclass(frozen=True)
class DeletionResult:
    user_deleted: bool
    trips_deleted: int
    signals_rekeyed: int
    pseudonym: str


async def anonymise_user(pool, user_id: str, before_delete: Sequence[Forget] = ()) -> DeletionResult:
    """Delete the person's data and re-key their signals, in one transaction; running it again is harmless.

    `before_delete` are the domains' own steps (e.g. taking the person out of other members' group trips), run
    in the same transaction before the person's trips and user row go: the engine knows no domain's tables.
    Lock order matches the sink's insert (users row first), so a signal being inserted concurrently is either
    committed before and re-keyed here, or waits and then sees the tombstone and stores itself anonymised.
    """
    salt = load_salt()
    pseudo = pseudonym("u", user_id, salt)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO anonymised_users (pseudonym) VALUES ($1) ON CONFLICT (pseudonym) DO NOTHING", pseudo
        )
        await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)
        for step in before_delete:
            await step(conn, user_id)
        # Trips (and their slots, by cascade) go first, so the count is of what was really deleted.
        trips = await conn.execute("DELETE FROM trips WHERE user_id = $1", user_id)
        user_deleted = (await conn.execute("DELETE FROM users WHERE id = $1", user_id)) != "DELETE 0"
        rows = await conn.fetch(
            "SELECT id, event_id, trip_id, context->>$2 AS generation FROM behavioral_signals "
            "WHERE user_id = $1 FOR UPDATE",
            user_id, GENERATION_KEY,
        )
        if rows:
            await conn.execute(
                """
                UPDATE behavioral_signals b
                   SET user_id = $1, event_id = m.event_id, trip_id = m.trip_id,
                       context = CASE WHEN m.generation IS NULL THEN b.context - $6::text[]
                                      ELSE jsonb_set(b.context - $6::text[], ARRAY[$7::text], to_jsonb(m.generation))
                                 END
                  FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[]) AS m(id, event_id, trip_id, generation)
                 WHERE b.id = m.id
                """,
                pseudo,
                [r["id"] for r in rows],
                [pseudonym("e", r["event_id"], salt) for r in rows],
                [pseudonym("t", r["trip_id"], salt) if r["trip_id"] else None for r in rows],
                [pseudonym("e", r["generation"], salt) if r["generation"] else None for r in rows],
                list(LINKING_CONTEXT_KEYS),
                GENERATION_KEY,
            )
            await conn.execute(
                "UPDATE anonymised_users SET signals_rekeyed = signals_rekeyed + $2 WHERE pseudonym = $1",
                pseudo, len(rows),
            )
    return DeletionResult(user_deleted, int(trips.split()[-1]), len(rows), pseudo)

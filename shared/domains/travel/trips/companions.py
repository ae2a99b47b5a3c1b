"""Consent for group trips: a user can be planned into someone's group trip only once they are companions,
that is, one of them accepted an invitation code the other created and handed over themselves.

Why codes and not "add by user id": an id is not consent, and answering "no such user" would tell anyone which
ids exist. So a group trip naming someone who is not the caller's companion is refused with one message,
whether or not that id exists. Either companion may withdraw at any time; deleting an account removes its
invitations and companionships (ON DELETE CASCADE) and takes the person out of other members' group trips
(forget.forget_member).
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

from shared.domains.errors import Conflict, InvalidRequest, NotFound
from shared.domains.travel.trips import store

INVITE_TTL = timedelta(days=7)
CODE_BYTES = 12           # 16 url-safe characters: not guessable, short enough to paste into a message
MAX_OPEN_INVITES = 20     # per inviter; older unexpired ones must be used or expire first


async def create_invite(conn, inviter: str) -> dict:
    await store.ensure_user(conn, inviter)
    open_invites = await conn.fetchval(
        "SELECT count(*) FROM companion_invites WHERE inviter_id = $1 AND accepted_by IS NULL AND expires_at > now()",
        inviter)
    if open_invites >= MAX_OPEN_INVITES:
        raise Conflict(f"you already have {open_invites} open invitations; wait until one is accepted or expires")
    code = secrets.token_urlsafe(CODE_BYTES)
    expires = datetime.now(timezone.utc) + INVITE_TTL
    await conn.execute("INSERT INTO companion_invites (code, inviter_id, expires_at) VALUES ($1, $2, $3)",
                       code, inviter, expires)
    return {"code": code, "expires_at": expires.isoformat()}


async def accept_invite(conn, code: str, user: str) -> dict:
    """Accept an invitation: the two become companions (both directions, one transaction). A code works once."""
    await store.ensure_user(conn, user)
    async with conn.transaction():
        invite = await conn.fetchrow(
            "SELECT inviter_id, expires_at, accepted_by FROM companion_invites WHERE code = $1 FOR UPDATE", code)
        if invite is None or invite["expires_at"] <= datetime.now(timezone.utc):
            raise NotFound("no open invitation with this code (it may have expired); ask for a new one", "code")
        if invite["inviter_id"] == user:
            raise InvalidRequest("this is your own invitation; send the code to the person you travel with", "code")
        if invite["accepted_by"] is not None:
            raise Conflict("this invitation was already accepted; ask for a new one", "code")
        await conn.execute("UPDATE companion_invites SET accepted_by = $2, accepted_at = now() WHERE code = $1",
                           code, user)
        await conn.execute(
            "INSERT INTO companions (user_id, companion_id) VALUES ($1, $2), ($2, $1) ON CONFLICT DO NOTHING",
            user, invite["inviter_id"])
    return {"user_id": invite["inviter_id"]}


async def list_companions(conn, user: str) -> list[dict]:
    rows = await conn.fetch("SELECT companion_id, since FROM companions WHERE user_id = $1 ORDER BY since", user)
    return [{"user_id": r["companion_id"], "since": r["since"].isoformat()} for r in rows]


async def remove_companion(conn, user: str, other: str) -> None:
    """Withdraw consent, both ways; idempotent. Trips already planned together stay (they are both members)."""
    await conn.execute("DELETE FROM companions WHERE (user_id = $1 AND companion_id = $2) OR "
                       "(user_id = $2 AND companion_id = $1)", user, other)


async def require_companions(conn, user: str, others: list[str]) -> None:
    """Every id in a group trip request must be the caller's companion; the first that is not is named."""
    if not others:
        return
    rows = await conn.fetch("SELECT companion_id FROM companions WHERE user_id = $1 AND companion_id = ANY($2::text[])",
                            user, others)
    agreed = {r["companion_id"] for r in rows}
    for i, other in enumerate(others):
        if other not in agreed:
            raise InvalidRequest(
                f"{other!r} is not one of your companions: they join group trips only after accepting your "
                "invitation (POST /v1/users/me/invites, then they POST the code to /v1/users/me/companions)",
                f"group_user_ids[{i}]")

"""Consent for group trips (companions.py) and forgetting a deleted member (forget.py), against Postgres."""
from __future__ import annotations

import uuid

import pytest

from shared.domains.errors import Conflict, InvalidRequest, NotFound
from shared.domains.travel.trips import companions
from tests.integration.trips.conftest import (become_companions, hold_prewarm, run_planner as _run,
                                           trip_request as _req)

pytestmark = pytest.mark.integration


def _ids(*names: str) -> list[str]:
    tag = uuid.uuid4().hex[:6]
    return [f"comp-{n}-{tag}" for n in names]


def test_an_invitation_makes_two_users_companions_once(stack):
    ana, ben, cy = _ids("ana", "ben", "cy")

    async def go(deps):
        async with deps.pool.acquire() as conn:
            invite = await companions.create_invite(conn, ana)
            with pytest.raises(InvalidRequest):
                await companions.accept_invite(conn, invite["code"], ana)  # not one's own
            assert await companions.accept_invite(conn, invite["code"], ben) == {"user_id": ana}
            with pytest.raises(Conflict):
                await companions.accept_invite(conn, invite["code"], cy)  # single use
            with pytest.raises(NotFound):
                await companions.accept_invite(conn, "not-a-code-at-all", cy)
            both = ([c["user_id"] for c in await companions.list_companions(conn, ana)],
                    [c["user_id"] for c in await companions.list_companions(conn, ben)])
            await companions.require_companions(conn, ben, [ana])
            with pytest.raises(InvalidRequest) as refused:
                await companions.require_companions(conn, ana, [ben, cy])
            await companions.remove_companion(conn, ben, ana)
            after = await companions.list_companions(conn, ana)
            return both, refused.value, after

    both, refused, after = _run(go)
    assert both == ([ben], [ana])
    assert refused.field == "group_user_ids[1]" and "not one of your companions" in refused.message
    assert after == []  # withdrawn by either, gone for both


def test_an_expired_invitation_is_not_found(stack):
    (ana, ben) = _ids("ana", "ben")

    async def go(deps):
        async with deps.pool.acquire() as conn:
            invite = await companions.create_invite(conn, ana)
            await conn.execute("UPDATE companion_invites SET expires_at = now() - interval '1 second' WHERE code = $1",
                               invite["code"])
            with pytest.raises(NotFound):
                await companions.accept_invite(conn, invite["code"], ben)

    _run(go)


def test_deleting_a_member_takes_them_out_of_the_group_trip_others_keep(testville, fake_encoder, monkeypatch):
    """The creator deletes their account: the trip passes to the other member, and no field names the creator."""
    from shared.domains.travel.trips import store
    from shared.domains.travel.trips.forget import forget_member
    from shared.domains.travel.trips.planner import plan_trip
    from shared.engine.events.anonymise import anonymise_user

    monkeypatch.setenv("SIGNAL_PSEUDONYM_SALT", "test-salt")
    hold_prewarm(testville)  # the prewarm function would rank this city behind later tests' backs
    creator, other = _ids("creator", "other")

    async def go(deps):
        await plan_trip(deps, other, _req(testville, tags={"interests": ["hiking", "parks"]}))
        await become_companions(deps.pool, other, creator)
        body, _ = await plan_trip(deps, creator, _req(testville, days=2, group_user_ids=[other],
                                                      tags={"food": ["ramen", "coffee"]}))
        await anonymise_user(deps.pool, creator, before_delete=[forget_member])
        async with deps.pool.acquire() as conn:
            kept = await store.load_trip_for(conn, body["trip_id"], other)
            gone = await store.load_trip_for(conn, body["trip_id"], creator)
            left = await companions.list_companions(conn, other)
        return body, kept, gone, left

    body, kept, gone, left = _run(go)
    assert {u for d in body["days"] for s in d["slots"] for u in s["serves"]} == {creator, other}
    trip, slots = kept
    assert trip["user_id"] == other and trip["member_ids"] == [other] and gone is None
    assert creator not in str(trip["request"]) and creator not in str(trip["meta"])
    for s in slots:
        assert creator not in s["serves"] and creator not in s["generated_narrative"]
        assert creator not in str(s["details"]["claims"])
    assert left == []

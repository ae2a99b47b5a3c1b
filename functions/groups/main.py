"""Groups: friend groups that meet (shared.domains.groups).

POST   /v1/groups                                  201 the group and an invitation code
POST   /v1/groups/join {code, me}                  201 the group, the caller a member
GET    /v1/groups/{group_id}                       200 the group (members only; anyone else gets 404)
POST   /v1/groups/{group_id}/invites               201 a new invitation code
PUT    /v1/groups/{group_id}/members/me            200 the caller's home, seats, diet, access, budget, tags
DELETE /v1/groups/{group_id}/members/{user_id}     204 leave, or (the owner) remove a member
PUT    /v1/groups/{group_id}/members/me/calendar   200 an .ics, busy intervals or a Google calendar id
GET    /v1/groups/{group_id}/windows               200 when a quorum is free (?weeks=, ?duration_minutes=)
POST   /v1/groups/{group_id}/cycles                201 a cycle: five options from safe to adventurous, vote open
GET    /v1/groups/{group_id}/cycles/{cycle_id}     200 the cycle
POST   /v1/groups/{group_id}/cycles/{cycle_id}/votes          200 the caller's approval ballot
POST   /v1/groups/{group_id}/cycles/{cycle_id}/close          200 the closed plan: winner, carpools
GET    /v1/groups/{group_id}/cycles/{cycle_id}/invite.ics     200 text/calendar: the caller's invitation
POST   /v1/groups/{group_id}/cycles/{cycle_id}/retrospective  201 the caller's review; it becomes signals

A thin adapter: identity from the gateway, validation to 400s naming the field, then the domain. Reviews are
published to the signals topic like any signal (the sink stores them idempotently).
"""
from __future__ import annotations

import datetime as dt
import logging

import flask
import functions_framework

from shared.api.errors import bad_request
from shared.api.http import (Router, check_text, current_user, endpoint, int_query, json_body, json_response,
                             parse)

log = logging.getLogger("concierge.groups")
router = Router()


def _in_conn(work):
    from shared.adapters.aio import run_sync
    from shared.adapters.postgres import get_pool

    async def go():
        async with (await get_pool()).acquire() as conn:
            return await work(conn)

    return run_sync(go())


def _as_member(group_id: str, caller: str, work):
    """Run work(conn, group) for a member of the group; to anyone else the group does not exist (404)."""
    from shared.domains.groups.membership import load_group

    async def go(conn):
        return await work(conn, await load_group(conn, check_text(group_id, "group_id"), caller))

    return _in_conn(go)


@router.route("POST", "/v1/groups")
def create_group(request: flask.Request) -> flask.Response:
    from shared.domains.groups.membership import create_group as create
    from shared.domains.groups.schemas import GroupCreate
    from shared.domains.travel.trips.destination import resolve

    caller = current_user(request)
    body = parse(GroupCreate, json_body(request))

    async def work(conn):
        today = dt.date.today()
        dest = await resolve(conn, body.city, today, today)
        if not dest.seeded:
            raise bad_request(f"{dest.city_name} has no catalogue yet: groups plan in seeded cities", "city")
        lon = await conn.fetchval("SELECT lon FROM cities WHERE id = $1", dest.city_id)
        return await create(conn, caller, body, dest.city_id, lon)

    return json_response(_in_conn(work), 201)


@router.route("POST", "/v1/groups/join")
def join_group(request: flask.Request) -> flask.Response:
    from shared.domains.groups.membership import join
    from shared.domains.groups.schemas import JoinRequest

    caller = current_user(request)
    body = parse(JoinRequest, json_body(request))
    return json_response(_in_conn(lambda conn: join(conn, body.code, caller, body.me)), 201)


@router.route("GET", "/v1/groups/<group_id>")
def get_group(request: flask.Request, group_id: str) -> flask.Response:
    from shared.domains.groups.membership import group_view

    caller = current_user(request)
    return json_response(_as_member(group_id, caller, lambda conn, group: group_view(conn, group, caller)))


@router.route("POST", "/v1/groups/<group_id>/invites")
def create_invite(request: flask.Request, group_id: str) -> flask.Response:
    from shared.domains.groups.membership import create_invite as create

    caller = current_user(request)
    return json_response(_as_member(group_id, caller, lambda conn, group: create(conn, group, caller)), 201)


@router.route("PUT", "/v1/groups/<group_id>/members/me")
def update_me(request: flask.Request, group_id: str) -> flask.Response:
    from shared.domains.groups.membership import update_me as update
    from shared.domains.groups.schemas import MemberProfile

    caller = current_user(request)
    body = parse(MemberProfile, json_body(request))
    return json_response(_as_member(group_id, caller, lambda conn, group: update(conn, group, caller, body)))


@router.route("DELETE", "/v1/groups/<group_id>/members/<user_id>")
def remove_member(request: flask.Request, group_id: str, user_id: str) -> flask.Response:
    from shared.domains.groups.membership import remove_member as remove

    caller = current_user(request)
    target = caller if user_id == "me" else check_text(user_id, "user_id")
    _as_member(group_id, caller, lambda conn, group: remove(conn, group, caller, target))
    return flask.Response(status=204)


@router.route("PUT", "/v1/groups/<group_id>/members/me/calendar")
def put_calendar(request: flask.Request, group_id: str) -> flask.Response:
    from shared.domains.groups.calendars import save_calendar
    from shared.domains.groups.schemas import CalendarUpload

    caller = current_user(request)
    body = parse(CalendarUpload, json_body(request))
    return json_response(_as_member(group_id, caller, lambda conn, group: save_calendar(conn, group, caller, body)))


@router.route("GET", "/v1/groups/<group_id>/windows")
def get_windows(request: flask.Request, group_id: str) -> flask.Response:
    from shared.domains.groups.calendars import MAX_WEEKS, windows

    caller = current_user(request)
    weeks = int_query(request, "weeks", 1, MAX_WEEKS, 4)
    duration = int_query(request, "duration_minutes", 30, 720)
    now = dt.datetime.now(dt.timezone.utc)
    return json_response(_as_member(group_id, caller, lambda conn, group: windows(conn, group, now, weeks, duration)))


@router.route("POST", "/v1/groups/<group_id>/cycles")
def start_cycle(request: flask.Request, group_id: str) -> flask.Response:
    from shared.domains.groups.cycles import start_cycle as start
    from shared.domains.groups.schemas import CycleStart

    caller = current_user(request)
    body = parse(CycleStart, json_body(request, optional=True))
    return json_response(_as_member(group_id, caller,
                                    lambda conn, group: start(conn, group, body.window_start, body.vote_hours)), 201)


@router.route("GET", "/v1/groups/<group_id>/cycles/<cycle_id>")
def get_cycle(request: flask.Request, group_id: str, cycle_id: str) -> flask.Response:
    from shared.domains.groups.cycles import cycle_view

    caller, cycle = current_user(request), check_text(cycle_id, "cycle_id")
    return json_response(_as_member(group_id, caller, lambda conn, group: cycle_view(conn, group, cycle)))


@router.route("POST", "/v1/groups/<group_id>/cycles/<cycle_id>/votes")
def vote(request: flask.Request, group_id: str, cycle_id: str) -> flask.Response:
    from shared.domains.groups.cycles import vote as cast
    from shared.domains.groups.schemas import Vote

    caller, cycle = current_user(request), check_text(cycle_id, "cycle_id")
    body = parse(Vote, json_body(request))
    return json_response(_as_member(group_id, caller, lambda conn, group: cast(conn, group, cycle, caller, body.approve)))


@router.route("POST", "/v1/groups/<group_id>/cycles/<cycle_id>/close")
def close(request: flask.Request, group_id: str, cycle_id: str) -> flask.Response:
    from shared.domains.groups.cycles import close as close_cycle

    caller, cycle = current_user(request), check_text(cycle_id, "cycle_id")
    return json_response(_as_member(group_id, caller, lambda conn, group: close_cycle(conn, group, cycle)))


@router.route("GET", "/v1/groups/<group_id>/cycles/<cycle_id>/invite.ics")
def invite_ics(request: flask.Request, group_id: str, cycle_id: str) -> flask.Response:
    from shared.domains.groups.cycles import invitation

    caller, cycle = current_user(request), check_text(cycle_id, "cycle_id")
    ics = _as_member(group_id, caller, lambda conn, group: invitation(conn, group, cycle, caller))
    return flask.Response(ics, status=200, mimetype="text/calendar")


@router.route("POST", "/v1/groups/<group_id>/cycles/<cycle_id>/retrospective")
def retrospective(request: flask.Request, group_id: str, cycle_id: str) -> flask.Response:
    from shared.adapters.pubsub import publish_json
    from shared.domains.groups.cycles import retrospective as review
    from shared.domains.groups.schemas import Retrospective
    from shared.engine.events.deadletter import SIGNALS_TOPIC

    caller, cycle = current_user(request), check_text(cycle_id, "cycle_id")
    body = parse(Retrospective, json_body(request))
    result = _as_member(group_id, caller, lambda conn, group: review(
        conn, group, cycle, caller, body.rating, body.venue_ratings, body.attended))
    # stored first, then published; the event ids derive from cycle, member and venue, so a retry stores nothing
    # twice, and a failed publish is answered as a 503 the client retries
    for rec in result["signals"]:
        publish_json(SIGNALS_TOPIC, rec, event_id=rec["event_id"], signal_type=rec["signal_type"]).result(timeout=10)
    return json_response({**result, "signals": len(result["signals"])}, 201)


@functions_framework.http
@endpoint
def handle(request: flask.Request) -> flask.Response:
    return router.dispatch(request)

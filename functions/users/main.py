"""The caller's own account: DELETE /v1/users/me, GET /v1/users/me/persona, and the companions they consent to
plan group trips with (shared.domains.travel.trips.companions):

POST   /v1/users/me/invites                201 {code, expires_at}: a single-use code to hand to a companion
POST   /v1/users/me/companions {code}      201 {user_id}: accept a code; the two are companions from now on
GET    /v1/users/me/companions             200 {companions: [{user_id, since}]}
DELETE /v1/users/me/companions/{user_id}   204: withdraw consent (both ways), whether or not it was given

Deletion anonymises rather than purges: personal data (the users row, their trips and itineraries) is deleted
and their behavioural signals are re-keyed to a pseudonym, so the training data stays whole but can no longer be
tied to the person (see shared.engine.events.anonymise). It answers 204 whether or not there was anything left
to delete, so a client can safely retry it.
"""
from __future__ import annotations

import logging

import flask
import functions_framework

from shared.api.http import Router, current_user, endpoint

log = logging.getLogger("concierge.users")
router = Router()


@router.route("DELETE", "/v1/users/me")
def delete_me(request: flask.Request) -> flask.Response:
    from shared.adapters.aio import run_sync

    from shared.api.errors import ApiError
    from shared.engine.events.anonymise import PseudonymSaltMissing

    caller = current_user(request)
    try:
        result = run_sync(_delete(caller))
    except PseudonymSaltMissing as exc:
        log.error("%s", exc)
        raise ApiError(503, "unavailable", "account deletion is not configured here (anonymisation key missing); "
                       "nothing was deleted, retry later") from None
    # The log carries only the pseudonym: the person's id must not outlive their data in the logs either.
    log.info("anonymised %s: user row %s, %d trips deleted, %d signals re-keyed", result.pseudonym,
             "deleted" if result.user_deleted else "already gone", result.trips_deleted, result.signals_rekeyed)
    return flask.Response(status=204)


async def _delete(user_id: str):
    from shared.adapters.postgres import get_pool
    from shared.domains.travel.trips.forget import forget_member
    from shared.engine.events.anonymise import anonymise_user

    return await anonymise_user(await get_pool(), user_id, before_delete=[forget_member])


@router.route("GET", "/v1/users/me/persona")
def my_persona(request: flask.Request) -> flask.Response:
    from shared.adapters.aio import run_sync
    from shared.adapters.postgres import get_pool
    from shared.api.http import json_response
    from shared.domains.travel.trips.persona_view import persona_view

    caller = current_user(request)

    async def go():
        return await persona_view(await get_pool(), caller)

    return json_response(run_sync(go()))


def _with_conn(work):
    from shared.adapters.aio import run_sync
    from shared.adapters.postgres import get_pool

    async def go():
        async with (await get_pool()).acquire() as conn:
            return await work(conn)

    return run_sync(go())


@router.route("POST", "/v1/users/me/invites")
def create_invite(request: flask.Request) -> flask.Response:
    from shared.api.http import json_response
    from shared.domains.travel.trips.companions import create_invite as create

    caller = current_user(request)
    return json_response(_with_conn(lambda conn: create(conn, caller)), 201)


@router.route("POST", "/v1/users/me/companions")
def accept_invite(request: flask.Request) -> flask.Response:
    from shared.api.http import json_body, json_response, parse
    from shared.domains.travel.trips.companions import accept_invite as accept
    from shared.domains.travel.trips.schemas import InviteAcceptance

    caller = current_user(request)
    body = parse(InviteAcceptance, json_body(request))
    return json_response(_with_conn(lambda conn: accept(conn, body.code, caller)), 201)


@router.route("GET", "/v1/users/me/companions")
def my_companions(request: flask.Request) -> flask.Response:
    from shared.api.http import json_response
    from shared.domains.travel.trips.companions import list_companions

    caller = current_user(request)
    return json_response({"companions": _with_conn(lambda conn: list_companions(conn, caller))})


@router.route("DELETE", "/v1/users/me/companions/<companion_id>")
def remove_companion(request: flask.Request, companion_id: str) -> flask.Response:
    from shared.domains.travel.trips.companions import remove_companion as remove

    caller = current_user(request)
    _with_conn(lambda conn: remove(conn, caller, companion_id))
    return flask.Response(status=204)


@functions_framework.http
@endpoint
def handle(request: flask.Request) -> flask.Response:
    return router.dispatch(request)

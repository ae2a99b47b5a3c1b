"""The caller's own account: DELETE /v1/users/me (and, from the personas work, GET /v1/users/me/persona).

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
    from shared.engine.events.anonymise import anonymise_user

    return await anonymise_user(await get_pool(), user_id)


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


@functions_framework.http
@endpoint
def handle(request: flask.Request) -> flask.Response:
    return router.dispatch(request)

"""Trips: POST /v1/trips, GET /v1/trips/{trip_id}, PATCH /v1/trips/{trip_id}/slots/{slot_id} (swap),
POST /v1/trips/{trip_id}/pivot, GET /v1/trips/{trip_id}/pivots/stream (server-sent events).

A thin adapter: identity from the gateway, validation to 400s naming the field, then the planner in
shared.domains.travel.trips. Every response carries X-Model-Version. Heavy imports (numpy, the encoder,
OR-Tools) happen on first use, so the module imports fast.
"""
from __future__ import annotations

import json
import os
import threading
import time

import flask
import functions_framework

from shared.api.errors import ApiError, not_found
from shared.api.http import Router, current_user, endpoint, json_body, json_response, parse
from shared.api.rate_limits import enforce

router = Router()
STREAM_DEFAULT_S = 20
STREAM_MAX_S = 120
# A stream holds one of the instance's worker threads (functions-framework: THREADS, default 4 per CPU) for
# its whole duration; at most half of them stream, so plans, swaps and pivots always find a free thread.
STREAM_SLOTS = max(1, int(os.environ.get("THREADS") or (os.cpu_count() or 1) * 4) // 2)
_streams = threading.BoundedSemaphore(STREAM_SLOTS)


def _deps():
    from shared.adapters.postgres import get_pool
    from shared.adapters.qdrant import get_async_qdrant
    from shared.adapters.redis_cache import get_async_redis
    from shared.domains.travel.trips.planner import Deps

    async def make():
        return Deps(await get_pool(), get_async_qdrant(), get_async_redis())

    return make


def _owned_trip(trip_id: str, user: str):
    """The caller's trip and its slots; 404 (never 403) for a trip that is missing or someone else's."""
    from shared.adapters.aio import run_sync
    from shared.adapters.postgres import get_pool
    from shared.domains.travel.trips import store

    async def go():
        async with (await get_pool()).acquire() as conn:
            return await store.load_trip_for(conn, trip_id, user)

    found = run_sync(go())
    if found is None:
        raise not_found(f"no trip {trip_id!r} for this user", "trip_id")
    return found


def _respond(body: dict, model_version: str, status: int = 200) -> flask.Response:
    return json_response(body, status, {"X-Model-Version": model_version or "none"})


@router.route("POST", "/v1/trips")
def create_trip(request: flask.Request) -> flask.Response:
    from shared.adapters.aio import run_sync
    from shared.domains.travel.trips.planner import plan_trip
    from shared.domains.travel.trips.schemas import TripRequest

    user = current_user(request)
    req = parse(TripRequest, json_body(request))
    enforce("trips", user)
    make = _deps()

    async def go():
        return await plan_trip(await make(), user, req)

    body, version = run_sync(go(), timeout=60)
    return _respond(body, version, 201)


@router.route("GET", "/v1/trips/<trip_id>")
def get_trip(request: flask.Request, trip_id: str) -> flask.Response:
    from shared.domains.travel.trips.view import trip_view

    user = current_user(request)
    trip, slots = _owned_trip(trip_id, user)
    return _respond(trip_view(trip, slots, user), trip["model_version"])


@router.route("PATCH", "/v1/trips/<trip_id>/slots/<slot_id>")
def swap_slot(request: flask.Request, trip_id: str, slot_id: str) -> flask.Response:
    from shared.adapters.aio import run_sync
    from shared.adapters.postgres import get_pool
    from shared.adapters.redis_cache import get_async_redis
    from shared.domains.travel.trips.pivots import swap
    from shared.domains.travel.trips.schemas import SwapRequest

    user = current_user(request)
    req = parse(SwapRequest, json_body(request, optional=True))
    enforce("pivots", user)

    async def go():
        async with (await get_pool()).acquire() as conn:
            return await swap(conn, get_async_redis(), trip_id, user, slot_id, req)

    body = run_sync(go())
    return _respond(body, body["served_by"])


@router.route("POST", "/v1/trips/<trip_id>/pivot")
def pivot_trip(request: flask.Request, trip_id: str) -> flask.Response:
    from shared.adapters.aio import run_sync
    from shared.adapters.postgres import get_pool
    from shared.adapters.qdrant import get_async_qdrant
    from shared.adapters.redis_cache import get_async_redis
    from shared.domains.travel.trips.pivots import pivot
    from shared.domains.travel.trips.schemas import PivotRequest

    user = current_user(request)
    req = parse(PivotRequest, json_body(request))
    enforce("pivots", user)

    async def go():
        async with (await get_pool()).acquire() as conn:
            return await pivot(conn, get_async_qdrant(), get_async_redis(), trip_id, user, req)

    body = run_sync(go())
    return _respond(body, body["served_by"])


@router.route("GET", "/v1/trips/<trip_id>/pivots/stream")
def pivot_stream(request: flask.Request, trip_id: str) -> flask.Response:
    """Server-sent events for one active trip: `ready` with the current itinerary, then every pivot or
    swap as it happens (`pivot`, `swap`), a comment heartbeat every 5 s, and `end` after `duration_s`
    (default 20, at most 120): bounded, so a stream never pins a worker forever. Streams are rate limited per
    user, and an instance whose stream slots are all taken answers 503 with Retry-After (another instance, or
    a later try, will serve it)."""
    from shared.adapters.redis_cache import get_redis
    from shared.api.errors import bad_request
    from shared.domains.travel.trips.pivots import channel
    from shared.domains.travel.trips.view import trip_view

    user = current_user(request)
    raw = request.args.get("duration_s", str(STREAM_DEFAULT_S))
    try:
        duration = float(raw)
    except ValueError:
        raise bad_request("duration_s must be a number of seconds", "duration_s") from None
    if not 0 < duration <= STREAM_MAX_S:
        raise bad_request(f"duration_s must be in (0, {STREAM_MAX_S}]", "duration_s")

    trip, slots = _owned_trip(trip_id, user)
    if trip["status"] not in ("planned", "active"):
        raise ApiError(409, "failed_precondition", f"trip is {trip['status']}: no live pivots", "trip_id")
    enforce("streams", user)
    ready = trip_view(trip, slots, user)
    if not _streams.acquire(blocking=False):
        raise ApiError(503, "unavailable", f"this instance already serves {STREAM_SLOTS} live streams; retry shortly",
                       headers={"Retry-After": "5"})
    try:
        pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(channel(trip_id))
    except Exception as exc:
        _streams.release()
        raise ApiError(503, "unavailable", f"live pivots cannot be streamed: redis is unreachable "
                       f"({type(exc).__name__}); the trip itself is at GET /v1/trips/{trip_id}",
                       headers={"Retry-After": "5"}) from None

    def events():
        try:
            yield f"event: ready\ndata: {json.dumps(ready, default=str)}\n\n"
            end = time.monotonic() + duration
            last_beat = time.monotonic()
            while (left := end - time.monotonic()) > 0:
                msg = pubsub.get_message(timeout=min(1.0, left))
                if msg and msg.get("type") == "message":
                    data = msg["data"].decode() if isinstance(msg["data"], bytes) else msg["data"]
                    kind = json.loads(data).get("event", "pivot")
                    yield f"event: {kind}\ndata: {data}\n\n"
                elif time.monotonic() - last_beat >= 5:
                    last_beat = time.monotonic()
                    yield ": heartbeat\n\n"
            yield "event: end\ndata: {\"reason\": \"duration elapsed\"}\n\n"
        finally:
            pubsub.close()

    resp = flask.Response(flask.stream_with_context(events()), mimetype="text/event-stream")
    resp.call_on_close(_streams.release)  # runs even when the client left before the first event
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Accel-Buffering"] = "no"
    resp.headers["X-Model-Version"] = trip["model_version"] or "none"
    return resp


@endpoint
def _dispatch(request: flask.Request) -> flask.Response:
    return router.dispatch(request)


@functions_framework.http
def handle(request: flask.Request) -> flask.Response:
    """Every response, errors included, carries X-Model-Version ("none" when no model was involved)."""
    resp = _dispatch(request)
    if "X-Model-Version" not in resp.headers:
        resp.headers["X-Model-Version"] = "none"
    return resp

"""Contextual suggestions (shared.domains.catalogues.suggest):

POST /v1/suggest   {user_id, surface, limit, context: {device, current_action, timestamp, session_length, ...}}
                   -> ranked items with scores, served_by, model_version, fallback_reason, experiment, arm and one
                   impression id per item (impressions are published to Pub/Sub, never waited for)
POST /v1/events    one {type: impression|click|conversion, impression_id, ...} or {"events": [...]} -> 202 once
                   Pub/Sub acknowledged them; the suggest_event_sink function stores each once
GET  /metrics  and  GET /v1/suggest/metrics   Prometheus text format (shared/api/suggest_metrics.py)

Thin: parse, validate, call the domain, count, log one structured line, respond.
"""
from __future__ import annotations

import time

import flask
import functions_framework

from shared.api.errors import ApiError
from shared.api.http import DOMAIN_STATUS, Router, endpoint, json_body, json_response, parse
from shared.api.metrics import structured_logger
from shared.api.suggest_metrics import (IMPRESSIONS_UNPUBLISHED, LATENCY, REQUESTS, exposition, record_event,
                                       record_suggestion)

log = structured_logger("concierge.suggest")
router = Router()


def _timed(route: str, request: flask.Request, answer) -> flask.Response:
    """Run the route, count it (status, latency) and log it in Cloud Logging's shape."""
    start = time.perf_counter()
    status, body = 500, {}
    try:
        body, status = answer()
        return json_response(body, status)
    except Exception as exc:  # the endpoint decorator answers it; here it is only counted with its status
        status = getattr(exc, "status", None) or DOMAIN_STATUS.get(getattr(exc, "kind", ""), 500)
        raise
    finally:
        seconds = time.perf_counter() - start
        LATENCY.labels(route).observe(seconds)
        REQUESTS.labels(route, str(status)).inc()
        log.info("%s %s %s", request.method, route, status, extra={"structured": {
            "httpRequest": {"requestMethod": request.method, "requestUrl": request.path, "status": status,
                            "latency": f"{seconds:.6f}s"},
            "latency_ms": round(seconds * 1000, 3), "route": route, "status": status,
            "served_by": body.get("served_by"), "fallback": body.get("served_by") == "rule" if "served_by" in body
            else None, "arm": body.get("arm"), "surface": body.get("surface")}})


@router.route("POST", "/v1/suggest")
def suggest(request: flask.Request) -> flask.Response:
    from shared.adapters.postgres import with_pool
    from shared.domains.catalogues.suggest.catalogue import get_catalogue
    from shared.domains.catalogues.suggest.schemas import SuggestRequest
    from shared.domains.catalogues.suggest.serve import publish_impressions, suggest as serve

    def publish(events: list[dict]) -> None:
        publish_impressions(events, on_unpublished=IMPRESSIONS_UNPUBLISHED.inc)

    def answer():
        req = parse(SuggestRequest, json_body(request))
        # the registry is read through the pool only when a model is due a refresh
        body = with_pool(lambda pool: serve(pool, req, publish))
        record_suggestion(body, get_catalogue().n_items)
        return body, 200

    return _timed("/v1/suggest", request, answer)


@router.route("POST", "/v1/events")
def events(request: flask.Request) -> flask.Response:
    from shared.adapters.aio import run_sync
    from shared.domains.catalogues.suggest import impressions
    from shared.domains.catalogues.suggest.events import PublishFailed, accept_events
    from shared.domains.catalogues.suggest.schemas import EventsIn

    def answer():
        body = parse(EventsIn, json_body(request))
        try:
            accepted = run_sync(accept_events(body))
        except PublishFailed as exc:
            raise ApiError(503, "unavailable", exc.message, "events", headers={"Retry-After": "5"}) from None
        for e in {f"{e.type}:{e.impression_id}": e for e in body.events}.values():
            record_event(e.type, impressions.verify(e.impression_id) or "unknown", impressions.list_of(e.impression_id))
        return accepted, 202

    return _timed("/v1/events", request, answer)


def _metrics() -> flask.Response:
    data, content_type = exposition()
    return flask.Response(data, status=200, mimetype=content_type.split(";")[0],
                          headers={"Content-Type": content_type})


@router.route("GET", "/metrics")
def metrics(request: flask.Request) -> flask.Response:
    return _metrics()


@router.route("GET", "/v1/suggest/metrics")
def suggest_metrics(request: flask.Request) -> flask.Response:
    return _metrics()


@functions_framework.http
@endpoint
def handle(request: flask.Request) -> flask.Response:
    return router.dispatch(request)

"""Semantic search (shared.domains.catalogues.search): SciFact and each city's venues.

GET /v1/search?q=…&k=10&corpus=scifact|venues:<city>&mode=dense|hybrid
GET /v1/cities/{city}/venues:search?q=…&k=10&mode=dense|hybrid     the same path over the city's venue index
GET /v1/search/cache-stats                                          hits, misses, sets and the consistency check
GET /metrics                                                        Prometheus text format

Every answer names the encoder (`model_version`), the index (`index_version`), the backend revision that served
it (`revision`: stable or candidate while a canary runs) and `served_by` (dense, hybrid, or the labelled
bm25-fallback with its `fallback_reason`); `cache.hit` is true only for an answer read from Redis. Thin: parse,
validate, call the domain, count, respond. The index is loaded once per instance, on the first request.
"""
from __future__ import annotations

import time

import flask
import functions_framework

from shared.api.http import DOMAIN_STATUS, Router, check_text, endpoint, json_response, parse
from shared.api.metrics import structured_logger
from shared.api.search_metrics import ANSWERS, LATENCY, REQUESTS, corpus_kind, exposition

log = structured_logger("concierge.search")
router = Router()
PASSED_THROUGH = ("key",)  # the API key API Gateway reads (the local gateway passes it on): not ours to validate


def _query(request: flask.Request) -> dict:
    args = {}
    for name in request.args:
        if name not in PASSED_THROUGH:
            args[name] = check_text(request.args.get(name, ""), name)
    return args


def _timed(route: str, request: flask.Request, answer) -> flask.Response:
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
        hit = (body.get("cache") or {}).get("hit")
        if "served_by" in body:
            ANSWERS.labels(corpus_kind(body["corpus"]), body["served_by"], "hit" if hit else "miss").inc()
        log.info("%s %s %s", request.method, route, status, extra={"structured": {
            "httpRequest": {"requestMethod": request.method, "requestUrl": request.path, "status": status,
                            "latency": f"{seconds:.6f}s"},
            "latency_ms": round(seconds * 1000, 3), "route": route, "corpus": body.get("corpus"),
            "served_by": body.get("served_by"), "fallback_reason": body.get("fallback_reason"),
            "index_version": body.get("index_version"), "revision": body.get("revision"), "cache_hit": hit}})


@router.route("GET", "/v1/search")
def search(request: flask.Request) -> flask.Response:
    from shared.domains.catalogues.search import get_searcher
    from shared.domains.catalogues.search_views import SearchParams

    def answer():
        p = parse(SearchParams, _query(request))
        return get_searcher().search(p.corpus, p.q, p.k, p.mode), 200

    return _timed("/v1/search", request, answer)


@router.route("GET", "/v1/cities/<city>/venues:search")
def venues_search(request: flask.Request, city: str) -> flask.Response:
    from shared.api.errors import bad_request
    from shared.domains.catalogues.search import get_searcher
    from shared.domains.catalogues.search_views import VenueSearchParams
    from shared.domains.errors import DomainError

    def answer():
        import re

        if not re.fullmatch(r"[a-z0-9-]{1,80}", city):
            raise bad_request("a city id is 1-80 of a-z, 0-9 and '-'", "city")
        p = parse(VenueSearchParams, _query(request))
        try:
            return get_searcher().search(f"venues:{city}", p.q, p.k, p.mode), 200
        except DomainError as err:
            if err.field == "corpus":   # the corpus is this path's city
                err.field = "city"
            raise

    return _timed("/v1/cities/{city}/venues:search", request, answer)


@router.route("GET", "/v1/search/cache-stats")
def cache_stats(request: flask.Request) -> flask.Response:
    from shared.domains.catalogues.search import cache_stats as stats

    return _timed("/v1/search/cache-stats", request, lambda: (stats(), 200))


@router.route("GET", "/metrics")
def metrics(request: flask.Request) -> flask.Response:
    data, content_type = exposition()
    return flask.Response(data, status=200, mimetype=content_type.split(";")[0],
                          headers={"Content-Type": content_type})


@functions_framework.http
@endpoint
def handle(request: flask.Request) -> flask.Response:
    return router.dispatch(request)

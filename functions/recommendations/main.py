"""Recommendations for any imported catalogue (shared.domains.catalogues): recipes, movies, ...

POST /v1/catalogues/{catalogue}/recommendations        {user_id, k, exclude_seen, diversity, filters}
POST /v1/catalogues/{catalogue}/recommendations:batch  {user_ids (up to 100), k, exclude_seen, diversity, filters}
POST /v1/catalogues/{catalogue}/similar-items          {item_id, k}
POST /v1/catalogues/{catalogue}/similar-users          {user_id, k}
POST /v1/catalogues/{catalogue}/cold-start             {liked_item_ids and/or tastes, k, diversity, filters}
POST /v1/catalogues/{catalogue}/interactions           {events: [{user_id, item_id, event_type, ...}]} -> 202
GET  /v1/catalogues/{catalogue}/metrics  and  GET /metrics   Prometheus text format

Every list says who served it (`served_by`, `model_version`) and, when a fallback did, why (`fallback_reason`);
`cache.hit` is true only for a list read from the cache. Thin: parse, validate, call the domain, count, respond.
"""
from __future__ import annotations

import time

import flask
import functions_framework

from shared.api.http import DOMAIN_STATUS, Router, check_text, endpoint, json_body, json_response, parse
from shared.api.metrics import LATENCY, REQUESTS, exposition, record_list, structured_logger

log = structured_logger("concierge.recommendations")
router = Router()


def _deps_call(work):
    """Run work(deps) on the process loop with a Postgres connection, the async Redis and Qdrant clients."""
    from shared.adapters.aio import run_sync
    from shared.adapters.postgres import get_pool
    from shared.adapters.qdrant import get_async_qdrant
    from shared.adapters.redis_cache import get_async_redis
    from shared.domains.catalogues.recommend import Deps

    async def go():
        async with (await get_pool()).acquire() as conn:
            return await work(Deps(conn, get_async_qdrant(), get_async_redis()))

    return run_sync(go())


def _timed(route: str, catalogue: str, request: flask.Request, answer) -> flask.Response:
    """Run the route, count it (status, latency, the lists it served) and log it in Cloud Logging's shape."""
    start = time.perf_counter()
    status, served = 500, []
    try:
        body, status = answer()
        served = body["results"] if "results" in body else [body] if "served_by" in body else []
        return json_response(body, status)
    except Exception as exc:  # the endpoint decorator answers it; here it is only counted with its status
        status = getattr(exc, "status", None) or DOMAIN_STATUS.get(getattr(exc, "kind", ""), 500)
        raise
    finally:
        seconds = time.perf_counter() - start
        LATENCY.labels(route).observe(seconds)
        REQUESTS.labels(route, catalogue, str(status)).inc()
        for entry in served:
            if "user_id" in entry and "cache" in entry:
                record_list(catalogue, entry)
        first = served[0] if served else {}
        log.info("%s %s %s", request.method, route, status, extra={"structured": {
            "httpRequest": {"requestMethod": request.method, "requestUrl": request.path, "status": status,
                            "latency": f"{seconds:.6f}s"},
            "latency_ms": round(seconds * 1000, 3), "catalogue": catalogue, "route": route,
            "served_by": first.get("served_by"),
            "cache_hit": (first.get("cache") or {}).get("hit"), "lists": len(served)}})


def _route(route: str, schema_name: str, domain_name: str, status: int = 200):
    def handler(request: flask.Request, catalogue: str) -> flask.Response:
        from shared.domains.catalogues import recommend, schemas

        catalogue = check_text(catalogue, "catalogue")

        def answer():
            req = parse(getattr(schemas, schema_name), json_body(request))
            fn = getattr(recommend, domain_name)
            return _deps_call(lambda deps: fn(deps, catalogue, req)), status

        return _timed(route, catalogue, request, answer)

    handler.__name__ = domain_name
    return handler


for _path, _schema, _fn in (
    ("recommendations", "RecommendRequest", "recommend"),
    ("recommendations:batch", "BatchRecommendRequest", "recommend_batch"),
    ("similar-items", "SimilarItemsRequest", "similar_items"),
    ("similar-users", "SimilarUsersRequest", "similar_users"),
    ("cold-start", "ColdStartRequest", "cold_start"),
):
    router.route("POST", f"/v1/catalogues/<catalogue>/{_path}")(_route(f"/v1/catalogues/{{catalogue}}/{_path}",
                                                                      _schema, _fn))


@router.route("POST", "/v1/catalogues/<catalogue>/interactions")
def interactions(request: flask.Request, catalogue: str) -> flask.Response:
    from shared.domains.catalogues.intake import accept_interactions
    from shared.domains.catalogues.schemas import InteractionsIn

    catalogue = check_text(catalogue, "catalogue")

    def answer():
        body = parse(InteractionsIn, json_body(request))
        return _deps_call(lambda deps: accept_interactions(deps.conn, catalogue, body.events)), 202

    return _timed("/v1/catalogues/{catalogue}/interactions", catalogue, request, answer)


def _metrics() -> flask.Response:
    data, content_type = exposition()
    return flask.Response(data, status=200, mimetype=content_type.split(";")[0],
                          headers={"Content-Type": content_type})


@router.route("GET", "/metrics")
def metrics(request: flask.Request) -> flask.Response:
    return _metrics()


@router.route("GET", "/v1/catalogues/<catalogue>/metrics")
def catalogue_metrics(request: flask.Request, catalogue: str) -> flask.Response:
    check_text(catalogue, "catalogue")
    return _metrics()  # one registry per instance: every catalogue's series, each labelled with its catalogue


@functions_framework.http
@endpoint
def handle(request: flask.Request) -> flask.Response:
    return router.dispatch(request)

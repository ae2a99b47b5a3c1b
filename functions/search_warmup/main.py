"""Cloud Tasks target (queue search-warmup): after an index is promoted, replay the most frequent recent queries
of its corpus (or a declared list) against it, so the first users of the new version hit a warm cache.

Body (shared.domains.catalogues.search_views.WarmupTask): {"corpus", "index_version", "limit", "queries"?, "k"?,
"mode"?}. Answers the report (how many were warmed, already cached, failed); the last report of each corpus is
also in GET /v1/search/cache-stats. Idempotent: entries already cached are counted, not rewritten. Bad bodies
answer 400 so Cloud Tasks does not retry them; an unregistered version 404; transient failures 503 so it does.
Internal only (its own function, like prewarm), so the public search service has no task route.
"""
from __future__ import annotations

import logging

import flask
import functions_framework

from shared.api.caller_identity import TASKS, require_caller
from shared.api.errors import ApiError
from shared.api.http import Router, endpoint, json_body, json_response, parse

log = logging.getLogger("concierge.search_warmup")
router = Router()


@router.route("POST", "/")
@router.route("POST", "/warm")
def warm(request: flask.Request) -> flask.Response:
    require_caller(request, "search_warmup", TASKS)
    from shared.domains.catalogues.search import warm as run_warmup
    from shared.domains.catalogues.search_views import WarmupTask
    from shared.domains.errors import DomainError

    task = parse(WarmupTask, json_body(request))
    try:
        report = run_warmup(task.corpus, task.index_version, limit=task.limit, queries=task.queries, k=task.k,
                            mode=task.mode)
    except DomainError:
        raise
    except Exception as exc:
        log.exception("search warm-up failed for %s@%s", task.corpus, task.index_version)
        raise ApiError(503, "unavailable", f"warm-up failed, Cloud Tasks will retry: {type(exc).__name__}") from None
    log.info("search warm-up %s", report)
    return json_response(report)


@functions_framework.http
@endpoint
def handle(request: flask.Request) -> flask.Response:
    return router.dispatch(request)

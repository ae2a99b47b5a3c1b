"""Cloud Tasks target: warm one (city, archetype, day part, trip day) combination of the ranked-result cache.

Body: {"city", "archetype", "day_part", "day_of_trip"}. Idempotent: a combination already cached is a
no-op (200, "already_cached"); otherwise the archetype is ranked once and all its combinations stored.
Bad bodies answer 400 so Cloud Tasks does not retry them; transient failures answer 503 so it does.
"""
from __future__ import annotations

import logging

import flask
import functions_framework
from pydantic import BaseModel, ConfigDict, Field

from shared.api.caller_identity import TASKS, require_caller
from shared.api.errors import ApiError, bad_request
from shared.api.http import Router, endpoint, json_body, json_response, parse

log = logging.getLogger("concierge.prewarm")
router = Router()


class PrewarmTask(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: str = Field(min_length=1, max_length=80, pattern=r"^[a-z0-9-]+$")
    archetype: str
    day_part: str
    day_of_trip: int = Field(ge=1, le=14)


@router.route("POST", "/")
@router.route("POST", "/prewarm")
def prewarm(request: flask.Request) -> flask.Response:
    require_caller(request, "prewarm", TASKS)
    from shared.adapters.aio import run_sync
    from shared.domains.travel.trips.archetypes import ARCHETYPE_NAMES
    from shared.engine.serving.cache import DAY_PARTS

    task = parse(PrewarmTask, json_body(request))
    if task.archetype not in ARCHETYPE_NAMES:
        raise bad_request(f"archetype must be one of {ARCHETYPE_NAMES}", "archetype")
    if task.day_part not in DAY_PARTS:
        raise bad_request(f"day_part must be one of {list(DAY_PARTS)}", "day_part")
    try:
        outcome = run_sync(_warm(task), timeout=60)
    except ApiError:
        raise
    except Exception as exc:
        log.exception("prewarm failed for %s", task.model_dump())
        raise ApiError(503, "unavailable", f"prewarm failed, Cloud Tasks will retry: {type(exc).__name__}") from None
    return json_response({"status": outcome, **task.model_dump()})


async def _warm(task: PrewarmTask) -> str:
    from shared.adapters.postgres import get_pool
    from shared.adapters.qdrant import get_async_qdrant
    from shared.adapters.redis_cache import get_async_redis
    from shared.domains.travel.trips.planner import Deps
    from shared.domains.travel.trips.rankers import llm_refusal, make_router_factory
    from shared.domains.travel.trips.ranking import archetype_ranking
    from shared.engine.serving.cache import ranked_key

    redis = get_async_redis()
    if await redis.exists(ranked_key(task.city, task.archetype, task.day_part, task.day_of_trip)):
        return "already_cached"
    pool = await get_pool()
    async with pool.acquire() as conn:
        seeded = await conn.fetchval("SELECT seeded_at IS NOT NULL AND venue_count > 0 FROM cities WHERE id = $1",
                                     task.city)
        if not seeded:
            return "city_not_seeded"
        deps = Deps(pool, get_async_qdrant(), redis)
        factory = make_router_factory(deps, await llm_refusal(pool))
        ranking = await archetype_ranking(conn, deps.qdrant, redis, task.city, task.archetype, factory)
    return "hit" if ranking.cache_hit else "warmed"


@functions_framework.http
@endpoint
def handle(request: flask.Request) -> flask.Response:
    return router.dispatch(request)

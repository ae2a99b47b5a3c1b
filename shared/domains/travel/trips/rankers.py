"""Stage 4 of planning: rank each traveller's candidates. Cold travellers share their archetype's cached
ranking (LLM or heuristic, through the router); warm ones with a production ML model get a personal one.
The relevance assembly reads is that ranking's (day part, day) combination plus the traveller's own term."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from shared.domains.travel.trips.persona import Persona, user_tower
from shared.domains.travel.trips.ranking import Ranking, archetype_ranking, personal_ranking
from shared.domains.travel.trips.scoring import combine, personal_by_part
from shared.engine.serving.cache import MAX_CACHED_DAY, count_call
from shared.engine.serving.llm import LLMRanker
from shared.engine.serving.router import RankerRouter, is_cold

log = logging.getLogger(__name__)
ML_MODEL_NAMES = ("bpr", "tag_affinity", "sasrec", "als", "ease")  # the first with a model in a status serves
_ml_cache: dict[str, Any] = {}   # name@version -> MLRanker, oldest first
ML_CACHE_SIZE = 4


def make_router_factory(deps, llm_refusal: str | None, ml=None, user_id: str | None = None):
    """A new router per ranking (it records its own calls), counting every call in Redis as well; LLM spend is
    counted against `user_id`'s daily share (None: system work such as prewarming)."""
    from shared.settings import get_settings

    loop = asyncio.get_running_loop()

    def on_usage(usage: dict) -> None:
        from shared.engine.cost_guard import record_usage

        asyncio.run_coroutine_threadsafe(record_usage(deps.pool, "trips.ranking", usage, user_id), loop)

    has_key = bool(get_settings().anthropic_api_key)

    def factory() -> RankerRouter:
        return RankerRouter(
            llm=LLMRanker(on_usage=on_usage, timeout_s=3.0) if has_key else None,
            ml=ml, llm_budget_s=3.5, llm_refusal=llm_refusal,
            # the router runs in an executor thread: the count goes back to the loop that owns the client
            on_call=lambda name: asyncio.run_coroutine_threadsafe(count_call(deps.redis, name), loop),
        )

    return factory


async def llm_refusal(pool, user_id: str | None = None) -> str | None:
    """Why this request may not call the LLM: no API key, or (cost_guard.llm_refusal) the day's budget or the
    user's share of it is spent; None when it may."""
    from shared.engine.cost_guard import llm_refusal as refusal
    from shared.settings import get_settings

    if not get_settings().anthropic_api_key:
        return "no_anthropic_key"  # no need to ask the cost guard
    return await refusal(pool, user_id)


async def production_ml(conn):
    """The production ML ranker (first of ML_MODEL_NAMES with one), wrapped for online serving."""
    return await _registered_ml(conn, "production")


async def shadow_ml(conn):
    """The newest model in shadow (first of ML_MODEL_NAMES with one): it scores a share of warm travellers'
    candidate sets off the response path (emit.publish_candidate_set), never what they are served."""
    return await _registered_ml(conn, "shadow")


async def _registered_ml(conn, status: str):
    """One indexed registry read per request says which model holds `status` now (so a promotion serves at
    once); its artifact is downloaded once per process and kept."""
    try:
        from shared.engine.registry.artifacts import download_artifact
        from shared.engine.registry.store import first_with_status
        from shared.engine.serving.ml import MLRanker

        rec = await first_with_status(conn, ML_MODEL_NAMES, status)
        if rec is None:
            return None
        key = rec.served_by
        if key not in _ml_cache:
            model = await asyncio.get_running_loop().run_in_executor(None, download_artifact, rec.artifact_path)
            if len(_ml_cache) >= ML_CACHE_SIZE:
                _ml_cache.pop(next(iter(_ml_cache)))
            _ml_cache[key] = MLRanker(model)
        return _ml_cache[key]
    except Exception:
        log.warning("could not load a %s ML model; warm users get the cold path", status, exc_info=True)
        return None


async def member_ranking(deps, conn, city: str, user_id: str, persona: Persona, signals: int, days: int,
                         factory, ml) -> Ranking:
    if ml is not None and not is_cold(signals):
        router = factory()
        router.ml = ml
        return await personal_ranking(conn, deps.qdrant, city, persona, user_id, signals, days, router)
    return await archetype_ranking(conn, deps.qdrant, deps.redis, city, persona.archetype, factory)


async def rank_members(deps, conn, city_id: str, members, days: int) -> tuple[dict[str, Ranking], dict[str, Ranking]]:
    """(ranking per member, distinct rankings by cache key): members of one archetype share one ranking.
    A warm member in the ML holdout (experiments.py) gets the cold path, and their ranking says why."""
    from shared.engine.serving.experiments import held_out_of_ml

    caller = members[0][0]  # the group's LLM calls count against the one who asked for the trip
    refusal = await llm_refusal(deps.pool, caller)
    ml = await production_ml(conn) if any(not is_cold(s) for _, _, s in members) else None
    factory = make_router_factory(deps, refusal, ml, caller)
    rankings: dict[str, Ranking] = {}
    by_key: dict[str, Ranking] = {}
    for uid, p, s in members:
        held_out = ml is not None and not is_cold(s) and held_out_of_ml(uid)
        personal = ml is not None and not is_cold(s) and not held_out
        key = f"user:{uid}" if personal else p.archetype
        if key not in by_key:
            by_key[key] = await member_ranking(deps, conn, city_id, uid, p, s, days, factory, ml if personal else None)
        rankings[uid] = by_key[key]
        if held_out:  # the shared ranking is left as it is (it is cached); this member's copy names the arm
            rankings[uid] = dataclasses.replace(by_key[key], fallback_reason="ml_holdout: the A/B control arm is "
                                                "served without ML")
    return rankings, by_key


def member_relevance(ranking: Ranking, persona: Persona, extra: dict | None = None):
    """relevance(day, part): the ranking's combination for that slot plus the traveller's personal term.
    `extra` (venues with evidence for this traveller's tags that the ranking did not hold) enter at the
    ranking's lowest score for that slot, so only the personal term (their evidence) lifts them."""
    extra = extra or {}
    venues = {**ranking.venues, **extra}
    personal = personal_by_part(persona.tags, user_tower(persona.embedding), venues)
    cache: dict[tuple[int, str], dict[str, float]] = {}

    def relevance(day: int, part: str) -> dict[str, float]:
        key = (min(day, MAX_CACHED_DAY), part)
        if key not in cache:
            combo = ranking.combo(part, day)
            floor = min((s for _, s in combo), default=0.0)
            cache[key] = combine(combo + [(vid, floor) for vid in extra if vid not in ranking.venues], personal(part))
        return cache[key]

    return relevance

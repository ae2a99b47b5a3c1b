"""Plan a trip: persona → retrieval → ranker router (cached per archetype) → assembly → narratives →
persist → log the candidate sets → enqueue cache pre-warming.

Everything here runs on the process's background event loop (shared.adapters.aio); the function's
handlers only parse, call `plan_trip` and respond.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from shared.api.errors import bad_request
from shared.domains.travel.trips import store
from shared.domains.travel.trips.archetypes import ARCHETYPE_NAMES
from shared.domains.travel.trips.groups import GroupScorer, Member
from shared.domains.travel.trips.itinerary import Plan, Relevance, assemble, snapshot, slot_key
from shared.domains.travel.trips.narrative import template_narrative
from shared.domains.travel.trips.persona import Persona, build_persona, user_tower
from shared.domains.travel.trips.ranking import Ranking, archetype_ranking, default_vibe_encoder, personal_ranking
from shared.domains.travel.trips.schemas import TripRequest
from shared.domains.travel.trips.scoring import combine, personal_by_part
from shared.domains.travel.trips.tags import TagError, Tags, parse_tags
from shared.engine.serving.cache import DAY_PARTS, KEY_VERSION, MAX_CACHED_DAY, count_call
from shared.engine.serving.llm import LLMRanker
from shared.engine.serving.router import RankerRouter, is_cold

log = logging.getLogger(__name__)
CANDIDATE_TOPIC = "candidate-sets"
PREWARM_QUEUE = "prewarm"
_background = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="trips-bg")


@dataclass
class Deps:
    pool: Any
    qdrant: Any
    redis: Any


def default_deps_sync() -> tuple[Any, Any]:
    from shared.adapters.qdrant import get_qdrant
    from shared.adapters.redis_cache import get_redis

    return get_qdrant(), get_redis()


# --- routers -------------------------------------------------------------------------------------------------------
def make_router_factory(deps: Deps, llm_allowed: bool, ml=None):
    """A new router per ranking (it records its own calls), counting every call in Redis as well."""
    from shared.settings import get_settings

    loop = asyncio.get_running_loop()

    def on_usage(usage: dict) -> None:
        from shared.engine.cost_guard import record_usage

        asyncio.run_coroutine_threadsafe(record_usage(deps.pool, "trips.ranking", usage), loop)

    has_key = bool(get_settings().anthropic_api_key)

    def factory() -> RankerRouter:
        return RankerRouter(
            llm=LLMRanker(on_usage=on_usage, timeout_s=3.0) if has_key else None,
            ml=ml, llm_budget_s=3.5, llm_allowed=llm_allowed,
            on_call=lambda name: count_call(deps.redis, name),
        )

    return factory


async def llm_allowed(pool) -> bool:
    from shared.settings import get_settings

    if not get_settings().anthropic_api_key:
        return False  # no LLM ranker at all: no need to ask the cost guard
    try:
        from shared.engine.cost_guard import ranking_budget_exhausted

        return not await ranking_budget_exhausted(pool)
    except Exception:  # no usage table yet or DB hiccup: the guard must not break planning
        log.warning("cost guard unavailable; allowing the LLM ranker", exc_info=True)
        return True


_ml_cache: dict[str, tuple[float, Any]] = {}
ML_MODEL_NAMES = ("als", "bpr", "ease")


async def production_ml(conn):
    """The production ML ranker (first of ML_MODEL_NAMES with one), wrapped for online serving; cached for 60 s."""
    now = time.monotonic()
    cached = _ml_cache.get("ml")
    if cached and now - cached[0] < 60:
        return cached[1]
    ranker = None
    try:
        from shared.engine.registry.artifacts import download_artifact
        from shared.engine.registry.store import get_production
        from shared.engine.serving.ml import MLRanker

        for name in ML_MODEL_NAMES:
            rec = await get_production(conn, name)
            if rec is not None:
                model = await asyncio.get_running_loop().run_in_executor(None, download_artifact, rec.artifact_path)
                ranker = MLRanker(model)
                break
    except Exception:
        log.warning("could not load a production ML model; warm users get the cold path", exc_info=True)
    _ml_cache["ml"] = (now, ranker)
    return ranker


# --- personas ------------------------------------------------------------------------------------------------------
def persona_from_row(row) -> Persona | None:
    if row is None or row["persona_embedding"] is None:
        return None
    tags = parse_tags(row["onboarding_tags"] or {})
    from shared.domains.travel.trips.archetypes import assign_archetype

    return Persona(tags, row["persona_description"] or "", "stored", assign_archetype(tags),
                   np.asarray(row["persona_embedding"], dtype=np.float32))


async def ensure_persona(pool, conn, user_id: str, tags: Tags | None) -> tuple[Persona, int]:
    """The user's persona, (re)built when new tags arrive or none is stored. Returns (persona, signal_count).
    The persona writer is an LLM call like the ranker's: it needs a key and an unspent daily budget, and its
    tokens go to the cost guard (through `pool`, outside the caller's connection)."""
    from shared.engine.cost_guard import record_usage

    row = await store.ensure_user(conn, user_id)
    existing = persona_from_row(row)
    if existing is not None and (tags is None or existing.tags.as_json() == tags.as_json()):
        return existing, row["signal_count"]
    tags = tags or Tags()
    loop = asyncio.get_running_loop()
    use_llm = await llm_allowed(pool)
    usages: list[dict] = []
    persona = await loop.run_in_executor(None, lambda: build_persona(tags, default_vibe_encoder, use_llm=use_llm,
                                                                     on_usage=usages.append))
    for usage in usages:
        await record_usage(pool, "trips.persona", usage)
    await store.save_persona(conn, user_id, tags.as_json(), persona.description, persona.embedding)
    return persona, row["signal_count"]


# --- cities --------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _known_city_ids() -> frozenset[str]:
    from shared.domains.travel.catalogue.cities import known_cities
    from shared.settings import get_settings

    try:
        return frozenset(known_cities(get_settings().data_dir))
    except Exception:
        log.warning("could not list known cities", exc_info=True)
        return frozenset()


def city_slug(name: str) -> str:
    from shared.domains.travel.catalogue.normalise import slugify

    return slugify(name)


_seeded_cities: dict[str, tuple[float, str]] = {}
SEEDED_CITY_TTL_S = 60


async def resolve_city(conn, city: str) -> tuple[str, str, bool]:
    """(city_id, display name, seeded). Unknown cities are a 400 naming `city`. A seeded city is
    remembered for a minute per process (seeding only ever adds cities)."""
    cid = city_slug(city)
    hit = _seeded_cities.get(cid)
    if hit and time.monotonic() - hit[0] < SEEDED_CITY_TTL_S:
        return cid, hit[1], True
    row = await conn.fetchrow("SELECT id, name, seeded_at, venue_count FROM cities WHERE id = $1", cid)
    if row is not None and row["seeded_at"] is not None and row["venue_count"] > 0:
        _seeded_cities[cid] = (time.monotonic(), row["name"])
        return cid, row["name"], True
    if row is not None or cid in _known_city_ids():
        return cid, (row["name"] if row else city.strip().title()), False
    raise bad_request(f"unknown city {city!r}: no catalogue or source covers it", "city")


# --- the pipeline --------------------------------------------------------------------------------------------------
async def member_ranking(deps: Deps, conn, city: str, user_id: str, persona: Persona, signals: int, days: int,
                         factory, ml) -> Ranking:
    if ml is not None and not is_cold(signals):
        router = factory()
        router.ml = ml
        return await personal_ranking(conn, deps.qdrant, city, persona, user_id, signals, days, router)
    return await archetype_ranking(conn, deps.qdrant, deps.redis, city, persona.archetype, factory)


def member_relevance(ranking: Ranking, persona: Persona):
    personal = personal_by_part(persona.tags, user_tower(persona.embedding), ranking.venues)
    cache: dict[tuple[int, str], dict[str, float]] = {}

    def relevance(day: int, part: str) -> dict[str, float]:
        key = (min(day, MAX_CACHED_DAY), part)
        if key not in cache:
            cache[key] = combine(ranking.combo(part, day), personal(part))
        return cache[key]

    return relevance


def assemble_for(pool: dict, members: list[tuple[str, Persona, int]],
                 relevance_of: Callable[[str, Persona], Relevance], req: TripRequest) -> Plan:
    """One traveller: their own relevance. A group: the compromise that represents every member
    (groups.GroupScorer), at the slowest member's pace."""
    if len(members) == 1:
        uid, p, _ = members[0]
        return assemble(pool, relevance_of(uid, p), req.days, p.tags.slots_per_day,
                        max_price_level=req.max_price_level)
    scorer = GroupScorer([Member(uid, relevance_of(uid, p)) for uid, p, _ in members])
    pace = min(p.tags.slots_per_day for _, p, _ in members)
    return assemble(pool, scorer.relevance, req.days, pace, max_price_level=req.max_price_level,
                    on_pick=scorer.on_pick)


def _matched(venue, persona: Persona, day_part: str) -> list[str]:
    """The user's own tags, among those that count in this day part, that the venue carries evidence for
    (a shared taxonomy tag or a keyword in its text): what its narrative may claim it matches."""
    from shared.domains.travel.trips.tags import VIBE

    tags, text = set(venue.tags), venue.extra.get("text") or venue.name.lower()
    out = []
    for tag, (terms, kws) in persona.tags.tags_for(day_part):
        exact = tag.replace("_", "-") in tags or tag.rstrip("s") in tags
        if exact or any(k in text for k in kws) or (tag in VIBE and terms[0] in tags):
            out.append(tag)
    return out


async def plan_trip(deps: Deps, user_id: str, req: TripRequest) -> tuple[dict, str]:
    t0 = time.perf_counter()
    try:
        tags = parse_tags(req.tags) if req.tags is not None else None
    except TagError as exc:
        raise bad_request(str(exc), exc.field) from None
    async with deps.pool.acquire() as conn:
        city_id, city_name, seeded = await resolve_city(conn, req.city)
        persona, signals = await ensure_persona(deps.pool, conn, user_id, tags)
        members: list[tuple[str, Persona, int]] = [(user_id, persona, signals)]
        if req.group_user_ids:
            if user_id in req.group_user_ids:
                raise bad_request("group_user_ids must not include the caller", "group_user_ids")
            rows = await store.load_users(conn, req.group_user_ids)
            for i, uid in enumerate(req.group_user_ids):
                p = persona_from_row(rows.get(uid))
                if p is None:
                    raise bad_request(f"user {uid!r} has no persona yet (they must plan once or set tags)",
                                      f"group_user_ids[{i}]")
                members.append((uid, p, rows[uid]["signal_count"]))
        if not seeded:
            from shared.domains.travel.trips.unseeded import plan_unseeded

            return await plan_unseeded(deps, conn, user_id, req, city_id, city_name, members, t0)
        allowed = await llm_allowed(deps.pool)
        ml = await production_ml(conn) if any(not is_cold(s) for _, _, s in members) else None
        factory = make_router_factory(deps, allowed, ml)
        rankings: dict[str, Ranking] = {}
        by_key: dict[str, Ranking] = {}
        t_rank = time.perf_counter()
        for uid, p, s in members:
            key = p.archetype if (ml is None or is_cold(s)) else f"user:{uid}"
            if key not in by_key:
                by_key[key] = await member_ranking(deps, conn, city_id, uid, p, s, req.days, factory, ml)
            rankings[uid] = by_key[key]
        t_assemble = time.perf_counter()
        pool: dict = {}
        for r in by_key.values():
            pool.update(r.venues)
        pkey = plan_cache_key(city_id, req, members, by_key, rankings)
        plan = load_cached_plan(deps.redis, pkey, pool) if pkey else None
        if plan is None:
            plan = assemble_for(pool, members, lambda uid, p: member_relevance(rankings[uid], p), req)
            if pkey:
                store_plan(deps.redis, pkey, plan)
        t_persist = time.perf_counter()
        primary = rankings[user_id]
        if not plan.slots and not pool:
            plan.empty_reason = (f"no venues retrieved for {city_name}"
                                 + (f": {primary.fallback_reason}" if primary.fallback_reason else ""))
        model_version = ",".join(sorted({r.model_version for r in by_key.values()}))
        trip_id = store.new_trip_id()
        slots = build_slots(trip_id, plan, members, model_version)
        await store.insert_trip(conn, {
            "id": trip_id, "user_id": user_id, "city_id": city_id, "start_date": req.start_date,
            "end_date": req.end_date, "request": req.model_dump(mode="json"), "served_by": primary.served_by,
            "model_version": model_version, "fallbacks": plan.fallbacks, "member_ids": [m[0] for m in members],
            "meta": {"archetypes": {uid: p.archetype for uid, p, _ in members}, "empty_reason": plan.empty_reason,
                     "fallback_reason": primary.fallback_reason, "catalogue": "seeded"},
        }, slots)
    t_end = time.perf_counter()
    ranker_calls = sum(r.ranker_calls for r in by_key.values())
    cache_hit = all(r.cache_hit for r in by_key.values())
    for uid, p, s in members:
        publish_candidate_set(rankings[uid], uid, trip_id, req, len(members))
    schedule_prewarm(deps.redis, city_id)
    body = {
        "trip_id": trip_id, "city": {"id": city_id, "name": city_name}, "catalogue": "seeded",
        "start_date": req.start_date.isoformat(), "end_date": req.end_date.isoformat(), "status": "planned",
        "days": render_days(req.start_date, req.days, slots),
        "served_by": primary.served_by, "ranker": primary.ranker, "model_version": model_version,
        "fallback_reason": primary.fallback_reason,
        "cache": {"hit": cache_hit, "ranker_calls": ranker_calls},
        "persona": {"archetype": persona.archetype, "description": persona.description},
        "members": [{"user_id": uid, "archetype": p.archetype, "state": "cold" if is_cold(s) else "warm"}
                    for uid, p, s in members],
        "empty_reason": plan.empty_reason,
        "timings_ms": {"rank": round((t_assemble - t_rank) * 1000, 1),
                       "assemble": round((t_persist - t_assemble) * 1000, 1),
                       "persist": round((t_end - t_persist) * 1000, 1), "total": round((t_end - t0) * 1000, 1)},
    }
    return body, model_version


# --- assembled-plan cache ------------------------------------------------------------------------------------------
PLAN_TTL_S = 6 * 3600


def plan_cache_key(city: str, req: TripRequest, members, by_key: dict[str, Ranking],
                   rankings: dict[str, Ranking]) -> str | None:
    """Assembly is deterministic given its inputs: the rankings it reads (by base id), each member's tags
    (the persona embedding is a function of them), trip length and budget. Identical requests on an
    unchanged ranking therefore reuse the assembled plan; any new ranking changes the key. Personal
    (warm, ML) rankings are not cached, so neither are plans built on them."""
    import hashlib
    import json

    if any(r.archetype is None or r.base_id is None for r in by_key.values()):
        return None
    parts = {
        "v": KEY_VERSION, "city": city, "days": req.days, "budget": req.max_price_level,
        "members": [[uid if len(members) > 1 else "", p.tags.as_json(), rankings[uid].base_id]
                    for uid, p, _ in members],
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]
    return f"plan:{KEY_VERSION}:{city}:{digest}"


def store_plan(redis, key: str, plan: Plan) -> None:
    import json

    data = {"slots": [[s.day_number, s.slot_order, s.day_part, s.venue.id, s.score, s.arrive, s.serves]
                      for s in plan.slots],
            "fallbacks": plan.fallbacks, "empty_reason": plan.empty_reason}
    try:
        redis.set(key, json.dumps(data, separators=(",", ":")), ex=PLAN_TTL_S)
    except Exception:
        log.warning("could not cache the assembled plan", exc_info=True)


def load_cached_plan(redis, key: str, pool: dict) -> Plan | None:
    import json

    from shared.domains.travel.trips.itinerary import PlannedSlot

    try:
        raw = redis.get(key)
    except Exception:
        return None
    if raw is None:
        return None
    data = json.loads(raw)
    if any(row[3] not in pool for row in data["slots"]):
        return None
    slots = [PlannedSlot(d, o, part, pool[vid], score, arrive, list(serves))
             for d, o, part, vid, score, arrive, serves in data["slots"]]
    return Plan(slots, data["fallbacks"], data["empty_reason"])


def build_slots(trip_id: str, plan: Plan, members: list[tuple[str, Persona, int]], model_version: str) -> list[dict]:
    personas = {uid: p for uid, p, _ in members}
    out = []
    for s in plan.slots:
        venue = snapshot(s.venue)
        serves = s.serves or [members[0][0]]
        matched: list[str] = []
        for uid in serves:
            for t in _matched(s.venue, personas[uid], s.day_part):
                if t not in matched:
                    matched.append(t)
        out.append({
            "id": store.slot_id(trip_id, s.day_number, s.slot_order), "day_number": s.day_number,
            "slot_order": s.slot_order, "day_part": s.day_part,
            "activity_node_id": s.venue.id if not s.venue.extra.get("uncatalogued") else None,
            "narrative": template_narrative(venue, s.day_part, s.arrive, serves if len(members) > 1 else None, matched),
            "model_version": model_version, "serves": serves, "venue": venue, "arrive": s.arrive,
            "score": float(s.score), "key": slot_key(s.day_number, s.slot_order),
        })
    return out


def render_slot(s: dict) -> dict:
    return {"slot_id": s["id"], "day_part": s["day_part"], "slot_order": s["slot_order"], "arrive": s.get("arrive"),
            "venue": s["venue"], "narrative": s.get("narrative", s.get("generated_narrative")),
            "serves": s.get("serves") or [], "score": s.get("score")}


def render_days(start: dt.date, n_days: int, slots: list[dict]) -> list[dict]:
    days = [{"day": d, "date": (start + dt.timedelta(days=d - 1)).isoformat(), "slots": []} for d in range(1, n_days + 1)]
    for s in slots:
        days[s["day_number"] - 1]["slots"].append(render_slot(s))
    return days


# --- logging and pre-warm (never block the response) ---------------------------------------------------------------
def publish_candidate_set(ranking: Ranking, user_id: str, trip_id: str, req: TripRequest, group_size: int) -> None:
    payload = {
        "event_id": f"cs_{uuid.uuid4().hex}", "user_id": user_id, "trip_id": trip_id,
        "signal_type": "candidate_set_logged", "activity_node_id": None,
        "context": {
            "candidates": [{"id": i, "score": round(float(s), 6)} for i, s, _ in ranking.items],
            "ranker": ranking.ranker, "served_by": ranking.served_by, "archetype": ranking.archetype,
            "cache_hit": ranking.cache_hit, "day_part": None, "day_of_trip": None, "days": req.days,
            "group_size": group_size, "city_id": ranking.city, "fallback_reason": ranking.fallback_reason,
        },
        "model_version": ranking.model_version,
    }
    try:
        from shared.adapters.pubsub import publish_json

        future = publish_json(CANDIDATE_TOPIC, payload)
        future.add_done_callback(_log_publish_failure)
    except Exception:
        log.exception("could not publish the candidate set of trip %s", trip_id)


def _log_publish_failure(future) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("candidate-set publish failed: %s", exc)


def prewarm_task_id(city: str, archetype: str, part: str, day: int, bucket: int) -> str:
    """Deterministic: the same combination in the same hour is the same task, so re-enqueueing is harmless."""
    return f"prewarm-{KEY_VERSION}-{city}-{archetype}-{part}-d{day}-{bucket}"


def prewarm_payloads(city: str) -> list[tuple[str, dict]]:
    bucket = int(time.time() // 3600)
    return [(prewarm_task_id(city, a, p, d, bucket), {"city": city, "archetype": a, "day_part": p, "day_of_trip": d})
            for a in ARCHETYPE_NAMES for p in DAY_PARTS for d in range(1, MAX_CACHED_DAY + 1)]


def schedule_prewarm(redis, city: str) -> None:
    """Enqueue the 45 combinations on the prewarm queue from a background thread. A Redis marker keeps
    it to once per city per hour per process fleet; the deterministic task ids make a repeat harmless anyway."""
    bucket = int(time.time() // 3600)
    try:
        if not redis.set(f"prewarm:enqueued:{KEY_VERSION}:{city}:{bucket}", "1", nx=True, ex=3600):
            return
    except Exception:
        log.warning("redis unavailable for the prewarm marker", exc_info=True)
    _background.submit(_enqueue_all, city)


def _enqueue_all(city: str) -> int:
    from shared.adapters.tasks import enqueue_http
    from shared.settings import get_settings

    try:
        url = get_settings().function_url("prewarm")
    except LookupError:
        log.warning("no prewarm function URL configured; skipping cache pre-warm")
        return 0
    n = 0
    for task_id, payload in prewarm_payloads(city):
        try:
            enqueue_http(PREWARM_QUEUE, url, payload, task_id=task_id)
            n += 1
        except Exception:
            log.exception("could not enqueue prewarm task %s", task_id)
    return n

"""Plan a trip, as one linear pipeline of typed stages:

    resolve city and dates → members and personas → candidates and ranking (seeded: Qdrant ANN and the
    ranker router; unseeded: the cache-first Places source), plus the venues with evidence for the
    travellers' own tags → assemble the days → persist → emit

Each stage lives in its own module (destination, members, rankers/unseeded, itinerary, store, emit); this
module only runs them in order and renders the result through the one trip view (view.trip_view). Domain
errors (unknown city, a group member without a persona) are raised as shared.domains.errors and mapped to
HTTP by the function layer.

Everything here runs on the process's background event loop (shared.adapters.aio); the function's
handlers only parse, call `plan_trip` and respond.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.domains.errors import InvalidRequest
from shared.domains.travel.trips import destination, emit, members as members_stage, rankers, store, venues
from shared.domains.travel.trips.daymodel import local_times
from shared.domains.travel.trips.evidence import evidence_query
from shared.domains.travel.trips.groups import GroupScorer, Member
from shared.domains.travel.trips.itinerary import Plan, Relevance, Trip, assemble
from shared.domains.travel.trips.persona import Persona
from shared.domains.travel.trips.plan_cache import load_plan, plan_cache_key, store_plan
from shared.domains.travel.trips.ranking import Ranking
from shared.domains.travel.trips.schemas import TripRequest
from shared.domains.travel.trips.tags import TagError, Tags, parse_tags
from shared.domains.travel.trips.trip_slots import build_slots
from shared.domains.travel.trips.view import trip_view
from shared.engine.serving.router import is_cold
from shared.settings import get_settings


@dataclass
class Deps:
    """The stores a plan uses, all non-blocking: planning runs on the process's one event loop."""
    pool: Any      # asyncpg pool
    qdrant: Any    # AsyncQdrantClient (shared.adapters.qdrant.get_async_qdrant)
    redis: Any     # redis.asyncio client (shared.adapters.redis_cache.get_async_redis)


def request_tags(req: TripRequest) -> Tags | None:
    try:
        return parse_tags(req.tags) if req.tags is not None else None
    except TagError as exc:
        raise InvalidRequest(str(exc), exc.field) from None


def assemble_for(pool: dict, members: list[members_stage.Member], relevance_of: Callable[[str, Persona], Relevance],
                 trip: Trip) -> Plan:
    """One traveller: their own relevance. A group: the compromise that represents every member
    (groups.GroupScorer), at the slowest member's pace."""
    if len(members) == 1:
        uid, p, _ = members[0]
        return assemble(pool, relevance_of(uid, p), trip)
    scorer = GroupScorer([Member(uid, relevance_of(uid, p)) for uid, p, _ in members])
    return assemble(pool, scorer.relevance, trip, on_pick=scorer.on_pick)


def group_tags(members: list[members_stage.Member]) -> Tags:
    """The group's day: everyone's tags (so each finds their stops), at the slowest member's pace."""
    order = ["slow", "moderate", "fast"]
    pace = min((p.tags.pace for _, p, _ in members), key=order.index)
    merged = {"food": [], "interests": [], "vibe": []}
    for _, p, _ in members:
        for group in merged:
            merged[group] += [t for t in getattr(p.tags, group) if t not in merged[group]]
    return Tags(tuple(merged["food"]), tuple(merged["interests"]), tuple(merged["vibe"]), pace)


async def extra_candidates(conn, city_id: str, tags: Tags, have: set[str]) -> dict:
    """Catalogue venues the ranked pool lacks: those with evidence for the travellers' own tags, and places to
    drop into for a break (both enter at the ranking's floor; see rankers.member_relevance)."""
    found = await venues.fetch_tag_candidates(conn, city_id, *evidence_query(tags), have=have)
    found += await venues.fetch_break_candidates(conn, city_id, have | {c.id for c in found})
    return {c.id: c for c in found}


async def plan_trip(deps: Deps, user_id: str, req: TripRequest) -> tuple[dict, str]:
    t0 = time.perf_counter()
    tags = request_tags(req)
    async with deps.pool.acquire() as conn:
        # 1. where and when
        dest = await destination.resolve(conn, req.city, req.start_date, req.end_date)
        # 2. who
        members = await members_stage.load_members(deps.pool, conn, user_id, tags, req.group_user_ids)
        # 3-4. candidates and ranking: seeded (Qdrant ANN + ranker router) or unseeded (Places + heuristic)
        t_rank = time.perf_counter()
        problem = None
        shadow = None
        if dest.seeded:
            rankings, by_key = await rankers.rank_members(deps, conn, dest.city_id, members, req.days)
            if any(not is_cold(s) for _, _, s in members):
                shadow = await rankers.shadow_ml(conn)
        else:
            from shared.domains.travel.trips.unseeded import places_ranking

            uid, persona, signals = members[0]
            ranking, problem = await places_ranking(deps.pool, dest.city_id, dest.city_name, persona, uid, signals,
                                                    req.days)
            rankings, by_key = {m[0]: ranking for m in members}, {"places": ranking}
        # 5. the days
        t_assemble = time.perf_counter()
        first_visit = not await store.has_completed_trip(conn, user_id, dest.city_id)
        trip = Trip(list(dest.dates), group_tags(members), local_times(dest.city_id), req.max_price_level,
                    first_visit, "|".join(m[0] for m in members), get_settings().exploration_share)
        pool: dict = {}
        for r in by_key.values():
            pool.update(r.venues)
        extra = await extra_candidates(conn, dest.city_id, trip.tags, set(pool)) if dest.seeded else {}
        pool.update(extra)
        pkey = plan_cache_key(dest.city_id, req, members, rankings, first_visit)
        plan = await load_plan(deps.redis, pkey, pool) if pkey else None
        plan_hit = plan is not None
        if plan is None:
            plan = assemble_for(pool, members, lambda uid, p: rankers.member_relevance(rankings[uid], p, extra), trip)
            if pkey:
                await store_plan(deps.redis, pkey, plan)
        primary = rankings[user_id]
        if not plan.slots:
            why = problem or primary.fallback_reason or plan.empty_reason
            plan.empty_reason = (f"{dest.city_name} is not seeded and the Places fallback gave nothing usable: {why}"
                                 if not dest.seeded else f"no venues retrieved for {dest.city_name}: {why}")
        # 6. persist
        t_persist = time.perf_counter()
        model_version = ",".join(sorted({r.model_version for r in by_key.values()}))
        catalogue = "seeded" if dest.seeded else "places_fallback"
        record = {
            "id": store.new_trip_id(), "user_id": user_id, "city_id": dest.city_id, "start_date": req.start_date,
            "end_date": req.end_date, "request": req.model_dump(mode="json"), "served_by": primary.served_by,
            "model_version": model_version, "fallbacks": plan.fallbacks, "member_ids": [m[0] for m in members],
            "status": "planned",
            "meta": {"archetypes": {uid: p.archetype for uid, p, _ in members},
                     "states": {uid: "cold" if is_cold(s) else "warm" for uid, _, s in members},
                     "empty_reason": plan.empty_reason, "fallback_reason": primary.fallback_reason,
                     "catalogue": catalogue, "city_name": dest.city_name, "ranker": primary.ranker,
                     "notes": plan.notes, "first_visit": first_visit, "arbitration": primary.arbitration,
                     **({"quality_signals": "generic (Places rating only)"} if not dest.seeded else {})},
        }
        slots = build_slots(record["id"], plan, members, model_version, dest.city_id)
        await store.insert_trip(conn, record, slots)
    t_end = time.perf_counter()
    # 7. emit (never blocks the response)
    decided = [s for s in slots if s["details"].get("decision")]
    for uid, _p, signals in members:
        decisions = [{"slot_id": s["id"], "day_of_trip": s["day_number"], "day_part": s["day_part"],
                      "kind": s["kind"], **s["details"]["decision"]} for s in decided if uid in s["serves"]]
        emit.publish_candidate_set(rankings[uid], uid, record["id"], req.days, len(members),
                                   shadow=None if is_cold(signals) else shadow, decisions=decisions)
    if dest.seeded:
        await emit.schedule_prewarm(deps.redis, dest.city_id)
    persona = members[0][1]
    body = trip_view(record, slots, user_id, live={
        "cache": {"hit": plan_hit, "ranker_calls": sum(r.ranker_calls for r in by_key.values())},
        "ranking_cache_hit": all(r.cache_hit for r in by_key.values()),
        "persona": {"archetype": persona.archetype, "description": persona.description},
        "timings_ms": {"rank": round((t_assemble - t_rank) * 1000, 1),
                       "assemble": round((t_persist - t_assemble) * 1000, 1),
                       "persist": round((t_end - t_persist) * 1000, 1), "total": round((t_end - t0) * 1000, 1)},
    })
    return body, model_version


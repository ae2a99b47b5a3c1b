"""The assembled-plan cache: identical requests on unchanged rankings reuse the plan.

Assembly is deterministic given its inputs, so the key is exactly what a plan depends on: the city, the
dates (weekday closures, seasons), the travellers (each traveller's variety term is personal) and their
tags, the budget, whether it is a first visit, the share of exploring stops, and the rankings it read (by base
id: any re-ranking changes the key); PLAN_FORMAT changes whenever the stored row does, so no reader meets a
row of another shape. Personal (warm, ML) rankings are not cached, so neither are plans built on them. A
response says `cache.hit: true` only when its plan came from here.
"""
from __future__ import annotations

import hashlib
import json
import logging

from shared.domains.travel.trips.itinerary import Leg, Plan, PlannedSlot
from shared.engine.serving.cache import KEY_VERSION
from shared.settings import get_settings

log = logging.getLogger(__name__)
PLAN_TTL_S = 6 * 3600
PLAN_FORMAT = 2   # 2: each slot row ends with its logged decision


def plan_cache_key(city: str, req, members, rankings: dict, first_visit: bool) -> str | None:
    if any(r.archetype is None or r.base_id is None for r in rankings.values()):
        return None
    parts = {
        "v": KEY_VERSION, "format": PLAN_FORMAT, "explore": get_settings().exploration_share, "city": city,
        "start": req.start_date.isoformat(), "end": req.end_date.isoformat(), "budget": req.max_price_level, "first_visit": first_visit,
        "members": [[uid, p.tags.as_json(), rankings[uid].base_id] for uid, p, _ in members],
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]
    return f"plan:{KEY_VERSION}:{city}:{digest}"


async def store_plan(redis, key: str, plan: Plan) -> None:
    data = {"slots": [[s.day_number, s.slot_order, s.day_part, s.venue.id, s.score, s.arrive, s.serves, s.kind,
                       s.depart, s.travel.as_dict() if s.travel else None, s.matched, s.decision]
                      for s in plan.slots],
            "fallbacks": plan.fallbacks, "empty_reason": plan.empty_reason, "notes": plan.notes}
    try:
        await redis.set(key, json.dumps(data, separators=(",", ":")), ex=PLAN_TTL_S)
    except Exception:
        log.warning("could not cache the assembled plan", exc_info=True)


async def load_plan(redis, key: str, pool: dict) -> Plan | None:
    try:
        raw = await redis.get(key)
    except Exception:
        return None
    if raw is None:
        return None
    data = json.loads(raw)
    if any(row[3] not in pool for row in data["slots"]):
        return None
    slots = [PlannedSlot(d, o, part, pool[vid], score, arrive, list(serves), kind, depart,
                         Leg(t["km"], t["minutes"], t["mode"]) if t else None, [tuple(m) for m in matched], decision)
             for d, o, part, vid, score, arrive, serves, kind, depart, t, matched, decision in data["slots"]]
    return Plan(slots, data["fallbacks"], data["empty_reason"], notes=data.get("notes") or [])

"""Pivots on a planned trip.

- venue_closed and weather are served from the fallbacks precomputed at generation and stored with
  the trip: one read, one write, no ranker call, no catalogue read.
- mood runs a fresh vector search: the user's vibe vector pulled toward the mood's vibe vector, ANN
  over the city's venues, then the best one that fits the slot's day part and is not in the trip.
Every applied pivot is recorded (trip_pivots), announced on the trip's Redis channel (the live stream)
and published to the `pivots` topic without waiting.
"""
from __future__ import annotations

import json
import logging
from functools import lru_cache

import numpy as np

from shared.api.errors import ApiError, bad_request, not_found
from shared.domains.travel.trips import store
from shared.domains.travel.trips.dayparts import is_outdoor
from shared.domains.travel.trips.itinerary import eligible, snapshot
from shared.domains.travel.trips.narrative import template_narrative
from shared.domains.travel.trips.planner import render_slot
from shared.domains.travel.trips.schemas import PivotRequest, SwapRequest
from shared.domains.travel.trips.venues import candidate_from_row, fetch_rows, search

log = logging.getLogger(__name__)
PIVOT_TOPIC = "pivots"
MOOD_TERMS = {
    "relaxed": ("casual", "quiet", "outdoors"),
    "energetic": ("active", "lively"),
    "romantic": ("romantic", "scenic", "wine"),
    "cozy": ("cozy", "coffee", "quiet"),
    "adventurous": ("active", "nature", "quirky"),
    "cultural": ("museum", "art", "historic", "performing-arts"),
    "hungry": ("local-favourite", "good-value", "global-cuisine", "street-food"),
    "lively": ("lively", "nightlife", "live-music"),
    "quiet": ("quiet", "cozy"),
}
MOOD_K = 60


def channel(trip_id: str) -> str:
    return f"trips:pivots:{trip_id}"


def _slot_key(slot: dict) -> str:
    return f"{slot['day_number']}:{slot['slot_order']}"


async def _load(conn, trip_id: str, user_id: str) -> tuple[dict, list[dict]]:
    found = await store.load_trip_for(conn, trip_id, user_id)
    if found is None:
        raise not_found(f"no trip {trip_id!r} for this user", "trip_id")
    trip, slots = found
    if trip["status"] in ("completed", "cancelled"):
        raise ApiError(409, "failed_precondition", f"trip is {trip['status']}; it can no longer change", "trip_id")
    return trip, slots


def _find_slot(slots: list[dict], slot_id: str) -> dict:
    for s in slots:
        if s["id"] == slot_id:
            return s
    raise not_found(f"no slot {slot_id!r} in this trip", "slot_id")


def _in_trip(slots: list[dict]) -> set[str]:
    return {s["venue"].get("id") for s in slots}


def _drop_everywhere(fallbacks: dict, venue_ids: set[str]) -> dict:
    """Venues now in the itinerary (or closed) are no fallback for any slot any more."""
    return {k: {kind: [v for v in alts if v["id"] not in venue_ids] for kind, alts in fb.items()}
            for k, fb in fallbacks.items()}


async def _apply(conn, redis, trip: dict, slot: dict, venue: dict, kind: str, reason: str, fallbacks: dict | None,
                 model_version: str) -> dict:
    narrative = template_narrative(venue, slot["day_part"], slot.get("arrive"))
    await store.replace_slot_venue(conn, trip["id"], slot["id"], venue, narrative, model_version, fallbacks, kind,
                                   {"slot_id": slot["id"], "from": slot["venue"].get("id"), "to": venue["id"],
                                    "reason": reason})
    slot.update(venue=venue, generated_narrative=narrative, model_version=model_version)
    return render_slot(slot)


def announce(redis, trip_id: str, event: dict) -> None:
    try:
        redis.publish(channel(trip_id), json.dumps(event, default=str))
    except Exception:
        log.warning("could not announce pivot on redis", exc_info=True)
    try:
        from shared.adapters.pubsub import publish_json

        publish_json(PIVOT_TOPIC, {"trip_id": trip_id, **event})
    except Exception:
        log.warning("could not publish pivot event", exc_info=True)


async def venue_closed(conn, redis, trip: dict, slots: list[dict], slot_id: str) -> dict:
    slot = _find_slot(slots, slot_id)
    fallbacks = trip["fallbacks"] or {}
    taken = _in_trip(slots)
    alts = [a for a in fallbacks.get(_slot_key(slot), {}).get("venue_closed", []) if a["id"] not in taken]
    if not alts:
        raise ApiError(409, "no_fallback", "no precomputed alternative is left for this slot; try a mood pivot",
                       "slot_id")
    closed = slot["venue"].get("id")
    new = alts[0]
    fb = _drop_everywhere(fallbacks, {new["id"], closed})
    changed = await _apply(conn, redis, trip, slot, new, "venue_closed", "venue_closed", fb, "precomputed_fallback")
    return {"type": "venue_closed", "changed": [changed], "served_by": "precomputed_fallback", "ranker_calls": 0}


async def weather(conn, redis, trip: dict, slots: list[dict], day: int | None, slot_id: str | None,
                  condition: str) -> dict:
    targets = [_find_slot(slots, slot_id)] if slot_id else [s for s in slots if s["day_number"] == day]
    if day is not None and not targets:
        raise bad_request(f"the trip has no day {day}", "day")
    fallbacks = dict(trip["fallbacks"] or {})
    changed, skipped = [], []
    for slot in targets:
        v = slot["venue"]
        if not is_outdoor(v.get("category"), v.get("tags")):
            continue
        taken = _in_trip(slots)
        alts = [a for a in fallbacks.get(_slot_key(slot), {}).get("weather", []) if a["id"] not in taken]
        if not alts:
            skipped.append({"slot_id": slot["id"], "reason": "no indoor alternative was precomputed"})
            continue
        fallbacks = _drop_everywhere(fallbacks, {alts[0]["id"]})
        changed.append(await _apply(conn, redis, trip, slot, alts[0], "weather", condition, fallbacks,
                                    "precomputed_fallback"))
    return {"type": "weather", "changed": changed, "skipped": skipped, "served_by": "precomputed_fallback",
            "ranker_calls": 0,
            "message": None if changed or skipped else "no outdoor stop that day: nothing to move"}


@lru_cache(maxsize=16)
def mood_vector(mood: str) -> np.ndarray:
    from shared.domains.travel.trips.persona import vibe_text_for_terms
    from shared.domains.travel.trips.ranking import default_vibe_encoder

    return default_vibe_encoder([vibe_text_for_terms(MOOD_TERMS[mood])])[0]


async def mood(conn, qdrant, redis, trip: dict, slots: list[dict], mood_name: str, day: int | None,
               slot_id: str | None) -> dict:
    targets = [_find_slot(slots, slot_id)] if slot_id else [s for s in slots if s["day_number"] == day]
    if not targets:
        raise bad_request(f"the trip has no day {day}", "day")
    user = await conn.fetchrow("SELECT persona_embedding FROM users WHERE id = $1", trip["user_id"])
    m = mood_vector(mood_name)
    q = m.copy()
    if user is not None and user["persona_embedding"] is not None:
        from shared.domains.travel.trips.persona import user_tower

        q = m + 0.5 * user_tower(np.asarray(user["persona_embedding"], dtype=np.float32))
    hits = search(qdrant, trip["city_id"], q / (np.linalg.norm(q) or 1.0), k=MOOD_K)
    rows = await fetch_rows(conn, [h[0] for h in hits])
    wanted = set(MOOD_TERMS[mood_name])
    cands = []
    for vid, score, _p, vec in hits:
        if vid in rows:
            c = candidate_from_row(rows[vid], score, vec)
            cands.append((score + 0.1 * len(wanted & set(c.tags)), c))
    cands.sort(key=lambda x: -x[0])
    max_price = (trip["request"] or {}).get("budget")
    from shared.domains.travel.trips.schemas import BUDGETS

    cap = max_price if isinstance(max_price, int) else BUDGETS.get(max_price) if max_price else None
    changed, skipped = [], []
    fallbacks = dict(trip["fallbacks"] or {})
    for slot in targets:
        taken = _in_trip(slots)
        pick = next((c for _, c in cands if c.id not in taken and eligible(c, slot["day_part"], cap)
                     and c.category not in ("lodging", "sleep")), None)
        if pick is None:
            skipped.append({"slot_id": slot["id"], "reason": f"no {mood_name} venue fits the {slot['day_part']}"})
            continue
        venue = snapshot(pick)
        fallbacks = _drop_everywhere(fallbacks, {pick.id})
        changed.append(await _apply(conn, redis, trip, slot, venue, "mood", mood_name, fallbacks,
                                    f"vector_search:mood-{mood_name}"))
    return {"type": "mood", "mood": mood_name, "changed": changed, "skipped": skipped,
            "served_by": "vector_search", "ranker_calls": 0}


async def pivot(conn, qdrant, redis, trip_id: str, user_id: str, req: PivotRequest) -> dict:
    problem = req.problem()
    if problem:
        raise bad_request(f"{problem[0]}: {problem[1]}", problem[0])
    trip, slots = await _load(conn, trip_id, user_id)
    if req.type == "venue_closed":
        result = await venue_closed(conn, redis, trip, slots, req.slot_id)
    elif req.type == "weather":
        result = await weather(conn, redis, trip, slots, req.day, req.slot_id, req.weather or "rain")
    else:
        result = await mood(conn, qdrant, redis, trip, slots, req.mood, req.day, req.slot_id)
    result["trip_id"] = trip_id
    if result["changed"]:
        announce(redis, trip_id, {"event": "pivot", **result})
    return result


async def swap(conn, redis, trip_id: str, user_id: str, slot_id: str, req: SwapRequest) -> dict:
    trip, slots = await _load(conn, trip_id, user_id)
    slot = _find_slot(slots, slot_id)
    taken = _in_trip(slots)
    fallbacks = trip["fallbacks"] or {}
    if req.activity_node_id:
        if req.activity_node_id in taken:
            raise ApiError(409, "already_in_trip", "that venue is already in this trip", "activity_node_id")
        rows = await fetch_rows(conn, [req.activity_node_id])
        row = rows.get(req.activity_node_id)
        if row is None or row["city_id"] != trip["city_id"]:
            raise bad_request("no such venue in this trip's city", "activity_node_id")
        venue = snapshot(candidate_from_row(row))
        served_by = "user_choice"
    else:
        alts = [a for a in fallbacks.get(_slot_key(slot), {}).get("venue_closed", []) if a["id"] not in taken]
        if not alts:
            raise ApiError(409, "no_fallback", "no alternative left for this slot; name one with activity_node_id",
                           "slot_id")
        venue, served_by = alts[0], "precomputed_fallback"
    fb = _drop_everywhere(fallbacks, {venue["id"]})
    changed = await _apply(conn, redis, trip, slot, venue, "swap", served_by, fb, served_by)
    announce(redis, trip_id, {"event": "swap", "changed": [changed]})
    return {"trip_id": trip_id, "slot": changed, "served_by": served_by, "ranker_calls": 0}

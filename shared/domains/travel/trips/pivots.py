"""Pivots on a planned trip.

- venue_closed and weather are served from the fallbacks precomputed at generation and stored with
  the trip: one read, one write, no ranker call, no catalogue read.
- mood runs a fresh vector search: the user's vibe vector pulled toward the mood's vibe vector, ANN
  over the city's venues, then the best one that fits the slot's day part and is not in the trip.
Every applied pivot is recorded (trip_pivots; its id is the changed slot's `pivot_id`, which the traveller's
pivot_accept or pivot_dismiss signal names), announced on the trip's Redis channel (the live stream) and
published to the `pivots` topic without waiting; pivot_outcomes turns silence into a pivot_ignore signal.
"""
from __future__ import annotations

import json
import logging
from functools import lru_cache

import numpy as np

from shared.domains.errors import Conflict, InvalidRequest, NotFound
from shared.domains.travel.trips import stops, store
from shared.domains.travel.trips.daymodel import duration, minutes
from shared.domains.travel.trips.itinerary import snapshot, within_budget
from shared.domains.travel.trips.narrative import narrate
from shared.domains.travel.trips.schemas import PivotRequest, SwapRequest
from shared.domains.travel.trips.venues import candidate_from_row, fetch_rows, search
from shared.domains.travel.trips.view import render_slot

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


class TripNotFound(NotFound):
    def __init__(self, trip_id: str):
        super().__init__(f"no trip {trip_id!r} for this user", "trip_id")


class TripClosed(Conflict):
    def __init__(self, status: str):
        super().__init__(f"trip is {status}; it can no longer change", "trip_id")


def channel(trip_id: str) -> str:
    return f"trips:pivots:{trip_id}"


def _slot_key(slot: dict) -> str:
    return f"{slot['day_number']}:{slot['slot_order']}"


async def _load(conn, trip_id: str, user_id: str) -> tuple[dict, list[dict]]:
    found = await store.load_trip_for(conn, trip_id, user_id)
    if found is None:
        raise TripNotFound(trip_id)
    trip, slots = found
    if trip["status"] in ("completed", "cancelled"):
        raise TripClosed(trip["status"])
    return trip, slots


def _find_slot(slots: list[dict], slot_id: str) -> dict:
    for s in slots:
        if s["id"] == slot_id:
            return s
    raise NotFound(f"no slot {slot_id!r} in this trip", "slot_id")


def _in_trip(slots: list[dict]) -> set[str]:
    return {s["venue"].get("id") for s in slots}


def _drop_everywhere(fallbacks: dict, venue_ids: set[str]) -> dict:
    """Venues now in the itinerary (or closed) are no fallback for any slot any more."""
    return {k: {kind: [v for v in alts if v["id"] not in venue_ids] for kind, alts in fb.items()}
            for k, fb in fallbacks.items()}


def _previous(slots: list[dict], slot: dict) -> dict | None:
    same_day = [s for s in slots if s["day_number"] == slot["day_number"] and s["slot_order"] < slot["slot_order"]]
    return max(same_day, key=lambda s: s["slot_order"]) if same_day else None


async def _apply(conn, redis, trip: dict, slots: list[dict], slot: dict, venue: dict, kind: str, reason: str,
                 fallbacks: dict | None, model_version: str) -> dict:
    details = dict(slot.get("details") or {})
    prev = _previous(slots, slot)
    travel = _leg_between(prev, venue)
    view = {**slot, "venue": venue, "kind": details.get("kind") or "visit", "travel": travel}
    narrative, claims = narrate(view, {"venue": prev["venue"]} if prev else None, [], trip["city_id"])
    details.update(travel=travel, claims=claims)
    pivot_id = await store.replace_slot_venue(
        conn, trip["id"], slot["id"], venue, narrative, model_version, fallbacks, kind,
        {"slot_id": slot["id"], "from": slot["venue"].get("id"), "to": venue["id"], "reason": reason}, details)
    slot.update(venue=venue, generated_narrative=narrative, model_version=model_version, details=details)
    following = _next(slots, slot)
    if following is not None:  # its leg now starts from the new venue: its narrative must say so
        await _renarrate(conn, trip, following, slot)
    return {**render_slot(slot), "day": slot["day_number"], "pivot_id": str(pivot_id)}


def _next(slots: list[dict], slot: dict) -> dict | None:
    later = [s for s in slots if s["day_number"] == slot["day_number"] and s["slot_order"] > slot["slot_order"]]
    return min(later, key=lambda s: s["slot_order"]) if later else None


def _leg_between(prev: dict | None, venue: dict) -> dict | None:
    from shared.domains.travel.trips.geo import leg

    if prev is None:
        return None
    a = (prev["venue"].get("lat"), prev["venue"].get("lon"))
    b = (venue.get("lat"), venue.get("lon"))
    km, mins, mode = leg(None if None in a else a, None if None in b else b)
    return {"km": None if km is None else round(km, 2), "minutes": mins, "mode": mode}


async def _renarrate(conn, trip: dict, slot: dict, prev: dict | None) -> None:
    details = dict(slot.get("details") or {})
    travel = _leg_between(prev, slot["venue"])
    view = {**slot, "kind": details.get("kind") or "visit", "travel": travel}
    matched = [(c["tag"], c["evidence"]) for c in details.get("claims") or [] if c.get("type") == "matches"]
    narrative, claims = narrate(view, prev, matched, trip["city_id"], len(slot.get("serves") or []) > 1)
    details.update(travel=travel, claims=claims)
    await store.update_slot_narrative(conn, trip["id"], slot["id"], narrative, details)
    slot.update(generated_narrative=narrative, details=details)


async def announce(redis, trip_id: str, event: dict, user_id: str) -> None:
    """To the trip's live stream, and to the `pivots` topic (with the traveller, for pivot_outcomes)."""
    try:
        await redis.publish(channel(trip_id), json.dumps(event, default=str))
    except Exception:
        log.warning("could not announce pivot on redis", exc_info=True)
    try:
        from shared.adapters.pubsub import publish_json

        publish_json(PIVOT_TOPIC, {"trip_id": trip_id, "user_id": user_id, **event})
    except Exception:
        log.warning("could not publish pivot event", exc_info=True)


def record_swap(user_id: str, trip: dict, slot: dict, replaced_by: dict) -> None:
    """A swap is a signal about the venue swapped out (the learning loop reads it as a skip); published to the
    signals topic like a client's signal. Best effort: the swap itself has already been stored."""
    import datetime as dt

    from shared.adapters.pubsub import publish_json
    from shared.engine.events.deadletter import SIGNALS_TOPIC
    from shared.engine.events.validation import server_record

    old = (slot.get("venue") or {}).get("id")
    try:
        rec = server_record(user_id, "slot_swap", old, trip["id"],
                            {"slot_id": slot["id"], "day_of_trip": slot["day_number"], "day_part": slot["day_part"]},
                            trip.get("model_version"), f"swap|{trip['id']}|{slot['id']}|{old}|{replaced_by['id']}",
                            dt.datetime.now(dt.timezone.utc))
        publish_json(SIGNALS_TOPIC, rec, event_id=rec["event_id"], signal_type=rec["signal_type"])
    except Exception:
        log.warning("could not record the swap of slot %s as a signal", slot.get("id"), exc_info=True)


async def venue_closed(conn, redis, trip: dict, slots: list[dict], slot_id: str) -> dict:
    slot = _find_slot(slots, slot_id)
    fallbacks = trip["fallbacks"] or {}
    taken = _in_trip(slots)
    alts = [a for a in fallbacks.get(_slot_key(slot), {}).get("venue_closed", []) if a["id"] not in taken]
    if not alts:
        raise Conflict("no precomputed alternative is left for this slot; try a mood pivot", "slot_id",
                       code="no_fallback")
    closed = slot["venue"].get("id")
    new = alts[0]
    fb = _drop_everywhere(fallbacks, {new["id"], closed})
    changed = await _apply(conn, redis, trip, slots, slot, new, "venue_closed", "venue_closed", fb,
                           "precomputed_fallback")
    return {"type": "venue_closed", "changed": [changed], "served_by": "precomputed_fallback", "ranker_calls": 0}


async def weather(conn, redis, trip: dict, slots: list[dict], day: int | None, slot_id: str | None,
                  condition: str) -> dict:
    targets = [_find_slot(slots, slot_id)] if slot_id else [s for s in slots if s["day_number"] == day]
    if day is not None and not targets:
        raise InvalidRequest(f"the trip has no day {day}", "day")
    fallbacks = dict(trip["fallbacks"] or {})
    changed, skipped = [], []
    for slot in targets:
        v = slot["venue"]
        if v.get("venue_type") not in stops.OUTDOOR_TYPES:
            continue
        taken = _in_trip(slots)
        alts = [a for a in fallbacks.get(_slot_key(slot), {}).get("weather", []) if a["id"] not in taken]
        if not alts:
            skipped.append({"slot_id": slot["id"], "reason": "no indoor alternative was precomputed"})
            continue
        fallbacks = _drop_everywhere(fallbacks, {alts[0]["id"]})
        changed.append(await _apply(conn, redis, trip, slots, slot, alts[0], "weather", condition, fallbacks,
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
        raise InvalidRequest(f"the trip has no day {day}", "day")
    user = await conn.fetchrow("SELECT persona_embedding FROM users WHERE id = $1", trip["user_id"])
    m = mood_vector(mood_name)
    q = m.copy()
    if user is not None and user["persona_embedding"] is not None:
        from shared.domains.travel.trips.persona import user_tower

        q = m + 0.5 * user_tower(np.asarray(user["persona_embedding"], dtype=np.float32))
    hits = await search(qdrant, trip["city_id"], q / (np.linalg.norm(q) or 1.0), k=MOOD_K)
    rows = await fetch_rows(conn, [h[0] for h in hits], plannable_only=True)
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
        pick = next((c for _, c in cands if c.id not in taken and _fits_slot(c, trip, slot, cap)), None)
        if pick is None:
            skipped.append({"slot_id": slot["id"], "reason": f"no {mood_name} venue fits this {slot['day_part']} stop"})
            continue
        venue = snapshot(pick)
        fallbacks = _drop_everywhere(fallbacks, {pick.id})
        changed.append(await _apply(conn, redis, trip, slots, slot, venue, "mood", mood_name, fallbacks,
                                    f"vector_search:mood-{mood_name}"))
    return {"type": "mood", "mood": mood_name, "changed": changed, "skipped": skipped,
            "served_by": "vector_search", "ranker_calls": 0}


def _trip_tag_names(trip: dict) -> set[str]:
    from shared.domains.travel.trips.tags import TagError, parse_tags

    try:
        return set(parse_tags((trip.get("request") or {}).get("tags")).all)
    except TagError:
        return set()


def _fits_slot(c, trip: dict, slot: dict, cap: int | None) -> bool:
    """The same rules assembly applied: the stop's kind, the season, the budget, and open at the slot's time
    on the slot's date."""
    import datetime as dt

    kind = (slot.get("details") or {}).get("kind") or "visit"
    date = trip["start_date"] + dt.timedelta(days=slot["day_number"] - 1)
    tag_names = _trip_tag_names(trip)
    if not (stops.plannable(c) and stops.fits(c, kind, tag_names) and stops.in_season(c, date) and within_budget(c, cap)):
        return False
    at = minutes(slot["arrive"]) if slot.get("arrive") else None
    if at is None:
        return True
    return stops.arrival_window(c, date, at, at, duration(stops.effective_type(c), kind)[0]) is not None


async def pivot(conn, qdrant, redis, trip_id: str, user_id: str, req: PivotRequest) -> dict:
    problem = req.problem()
    if problem:
        raise InvalidRequest(f"{problem[0]}: {problem[1]}", problem[0])
    trip, slots = await _load(conn, trip_id, user_id)
    if req.type == "venue_closed":
        result = await venue_closed(conn, redis, trip, slots, req.slot_id)
    elif req.type == "weather":
        result = await weather(conn, redis, trip, slots, req.day, req.slot_id, req.weather or "rain")
    else:
        result = await mood(conn, qdrant, redis, trip, slots, req.mood, req.day, req.slot_id)
    result["trip_id"] = trip_id
    if result["changed"]:
        await announce(redis, trip_id, {"event": "pivot", **result}, user_id)
    return result


async def swap(conn, redis, trip_id: str, user_id: str, slot_id: str, req: SwapRequest) -> dict:
    trip, slots = await _load(conn, trip_id, user_id)
    slot = _find_slot(slots, slot_id)
    taken = _in_trip(slots)
    fallbacks = trip["fallbacks"] or {}
    if req.activity_node_id:
        if req.activity_node_id in taken:
            raise Conflict("that venue is already in this trip", "activity_node_id", code="already_in_trip")
        rows = await fetch_rows(conn, [req.activity_node_id])
        row = rows.get(req.activity_node_id)
        if row is None or row["city_id"] != trip["city_id"]:
            raise InvalidRequest("no such venue in this trip's city", "activity_node_id")
        if not row["plannable"]:
            raise InvalidRequest(f"that venue is not plannable: {row['visit_kind']}", "activity_node_id")
        venue = snapshot(candidate_from_row(row))
        served_by = "user_choice"
    else:
        alts = [a for a in fallbacks.get(_slot_key(slot), {}).get("venue_closed", []) if a["id"] not in taken]
        if not alts:
            raise Conflict("no alternative left for this slot; name one with activity_node_id", "slot_id",
                           code="no_fallback")
        venue, served_by = alts[0], "precomputed_fallback"
    fb = _drop_everywhere(fallbacks, {venue["id"]})
    swapped_out = dict(slot)  # _apply updates the slot in place
    changed = await _apply(conn, redis, trip, slots, slot, venue, "swap", served_by, fb, served_by)
    await announce(redis, trip_id, {"event": "swap", "changed": [changed]}, user_id)
    record_swap(user_id, trip, swapped_out, venue)
    return {"trip_id": trip_id, "slot": changed, "served_by": served_by, "ranker_calls": 0}

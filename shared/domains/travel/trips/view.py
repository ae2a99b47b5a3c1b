"""The one view model of a trip: POST, GET, swaps, pivots and the live stream all render through here, so a
client sees one shape whichever route it used.

A stored slot (itinerary_slots row, or the dict the planner is about to insert) renders to:
    {slot_id, slot_order, day_part, kind, arrive, depart, travel, venue, narrative, claims, serves, score}
and a day to {day, date, weekday, meal_windows, km, slots}.
"""
from __future__ import annotations

import datetime as dt

from shared.domains.travel.trips.daymodel import local_times, weekday_name
from shared.domains.travel.trips.itinerary import day_km


def render_slot(s: dict) -> dict:
    details = s.get("details") or {}
    return {"slot_id": s["id"], "slot_order": s["slot_order"], "day_part": s["day_part"],
            "kind": details.get("kind"), "arrive": s.get("arrive"), "depart": details.get("depart"),
            "travel": details.get("travel"), "venue": s["venue"],
            "narrative": s.get("narrative", s.get("generated_narrative")), "claims": details.get("claims") or [],
            "serves": s.get("serves") or [], "score": s.get("score")}


def render_days(city_id: str, start: dt.date, n_days: int, slots: list[dict]) -> list[dict]:
    windows = local_times(city_id).windows()
    days = []
    for d in range(1, n_days + 1):
        date = start + dt.timedelta(days=d - 1)
        rendered = [render_slot(s) for s in sorted(slots, key=lambda s: s["slot_order"]) if s["day_number"] == d]
        days.append({"day": d, "date": date.isoformat(), "weekday": weekday_name(date), "meal_windows": windows,
                     "km": day_km(rendered), "slots": rendered})
    return days


def members_view(trip: dict, viewer: str) -> list[dict]:
    """Every member by id; only the viewer's own entry shows their archetype and cold/warm state (another
    member's persona is theirs, not their companions')."""
    meta = trip.get("meta") or {}
    out = []
    for uid in trip.get("member_ids") or []:
        entry: dict = {"user_id": uid, "you": uid == viewer}
        if uid == viewer:
            entry.update(archetype=(meta.get("archetypes") or {}).get(uid), state=(meta.get("states") or {}).get(uid))
        out.append(entry)
    return out


def trip_view(trip: dict, slots: list[dict], viewer: str, live: dict | None = None) -> dict:
    """`trip`: the trips row (or the dict about to be inserted); `viewer`: who is reading it (a member); `live`:
    what only the creating response knows (cache, timings, persona)."""
    meta = trip.get("meta") or {}
    days = (trip["end_date"] - trip["start_date"]).days + 1
    body = {
        "trip_id": trip["id"], "city": {"id": trip["city_id"], "name": meta.get("city_name")},
        "catalogue": meta.get("catalogue", "seeded"), "start_date": trip["start_date"].isoformat(),
        "end_date": trip["end_date"].isoformat(), "status": trip.get("status", "planned"),
        "days": render_days(trip["city_id"], trip["start_date"], days, slots),
        "served_by": trip["served_by"], "ranker": meta.get("ranker"), "model_version": trip["model_version"],
        "fallback_reason": meta.get("fallback_reason"), "arbitration": meta.get("arbitration"),
        "members": members_view(trip, viewer),
        "empty_reason": meta.get("empty_reason"), "notes": meta.get("notes") or [],
    }
    if meta.get("quality_signals"):
        body["quality_signals"] = meta["quality_signals"]
    if live:
        body.update(live)
    return body

"""Itinerary assembly: from per-(day, day part) relevance to days of ordered, fitting, diverse stops.

Steps, and why:
1. Filter: a venue must suit the day part (coffee and sights by day, bars at night), be open then when
   its hours parse, fit the budget, and not be used already (no venue twice).
2. Areas: k-means over the best venues' coordinates gives one area per day, best area first, so a day
   stays in one part of town; every candidate pays a distance penalty from its day's area centre.
3. Diversity: MMR across the whole trip (the already-chosen stops of every earlier slot are the MMR
   context), so day 3 is not day 1 again.
4. Balance: at most two thirds of a day's stops are for eating or drinking, so a food lover's day still
   has something to do between meals. Evening and morning are picked first (dinner and the first stop
   anchor a day), the afternoon fills around them.
5. Order: OR-Tools sequences each day's stops inside their day-part windows (narrowed to listed opening
   hours), minimising travel.
6. Fallbacks: for every slot the next-best fitting venues (and indoor ones for outdoor slots) are
   stored with the trip, so venue_closed and weather pivots need no ranker call.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from shared.domains.travel.trips.dayparts import DAY_PARTS, MIN_FIT, day_part_fit, is_outdoor, open_during, visit_window
from shared.domains.travel.trips.geo import areas, clock, haversine_km, order_stops
from shared.engine.serving.mmr import mmr_select
from shared.engine.serving.types import Candidate

PART_SLOTS = {
    3: {"morning": 1, "afternoon": 1, "evening": 1},
    4: {"morning": 1, "afternoon": 2, "evening": 1},
    5: {"morning": 2, "afternoon": 2, "evening": 1},
}
GEO_WEIGHT = 0.06          # relevance lost per km beyond the free radius
GEO_FREE_KM = 1.0
GEO_CAP = 0.5
NO_COORDS_PENALTY = 0.05
MMR_LAMBDA = 0.75
N_FALLBACKS = 3
PICK_ORDER = ("evening", "morning", "afternoon")
EAT_DRINK = {"food", "drink", "eat"}

Relevance = Callable[[int, str], dict[str, float]]


@dataclass
class PlannedSlot:
    day_number: int
    slot_order: int
    day_part: str
    venue: Candidate
    score: float
    arrive: str | None = None
    serves: list[str] = field(default_factory=list)


@dataclass
class Plan:
    slots: list[PlannedSlot]
    fallbacks: dict[str, dict[str, list[dict]]]
    empty_reason: str | None = None
    day_areas: list[tuple[float, float] | None] = field(default_factory=list)


def snapshot(c: Candidate) -> dict:
    """What a slot needs to render without another catalogue read."""
    return {"id": c.id, "name": c.name, "category": c.category, "tags": list(c.tags), "lat": c.lat, "lon": c.lon,
            "price_level": c.price_level, "hours": c.hours, "quality": c.quality,
            "description": c.extra.get("description"), "address": c.extra.get("address"),
            "catalogued": not c.extra.get("uncatalogued", False)}


def slot_key(day: int, order: int) -> str:
    return f"{day}:{order}"


def within_budget(c: Candidate, max_price_level: int | None) -> bool:
    return max_price_level is None or c.price_level is None or c.price_level <= max_price_level


def eligible(c: Candidate, part: str, max_price_level: int | None) -> bool:
    return (day_part_fit(c.category, c.tags, part) >= MIN_FIT and open_during(c.hours, part)
            and within_budget(c, max_price_level))


def eat_drink_cap(slots_per_day: int) -> int:
    """Eating and drinking stops allowed per day: 2 of 3, 2 of 4, 3 of 5."""
    return max(1, (2 * slots_per_day) // 3)


def geo_penalty(c: Candidate, centre: tuple[float, float] | None) -> float:
    if centre is None:
        return 0.0
    if c.lat is None or c.lon is None:
        return NO_COORDS_PENALTY
    km = haversine_km((c.lat, c.lon), centre)
    return min(GEO_CAP, GEO_WEIGHT * max(0.0, km - GEO_FREE_KM))


def penalties(pool: dict[str, Candidate], centre: tuple[float, float] | None) -> dict[str, float]:
    """geo_penalty for every venue at once (vectorised haversine): assembly asks for it per slot."""
    if centre is None:
        return dict.fromkeys(pool, 0.0)
    ids = list(pool)
    lat = np.array([pool[i].lat if pool[i].lat is not None else np.nan for i in ids], dtype=np.float64)
    lon = np.array([pool[i].lon if pool[i].lon is not None else np.nan for i in ids], dtype=np.float64)
    la1, lo1 = np.radians(centre[0]), np.radians(centre[1])
    la2, lo2 = np.radians(lat), np.radians(lon)
    h = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    km = 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(h, 0, 1)))
    pen = np.minimum(GEO_CAP, GEO_WEIGHT * np.maximum(0.0, km - GEO_FREE_KM))
    pen = np.where(np.isnan(pen), NO_COORDS_PENALTY, pen)
    return {i: float(p) for i, p in zip(ids, pen)}


def day_centres(pool: dict[str, Candidate], overall: dict[str, float], n_days: int) -> list[tuple[float, float] | None]:
    ranked = sorted((v for v in pool.values() if v.lat is not None and v.lon is not None and v.id in overall),
                    key=lambda v: -overall[v.id])[:90]
    if len(ranked) < 3:
        return [None] * n_days
    pts = np.array([[v.lat, v.lon] for v in ranked], dtype=np.float64)
    w = np.array([max(0.0, overall[v.id]) + 1e-3 for v in ranked])
    centres, _ = areas(pts, w, n_days)
    return [tuple(map(float, centres[d % len(centres)])) for d in range(n_days)]


def assemble(
    pool: dict[str, Candidate],
    relevance: Relevance,
    n_days: int,
    slots_per_day: int,
    *,
    max_price_level: int | None = None,
    exclude: set[str] | None = None,
    on_pick: Callable[[int, str, Candidate], list[str]] | None = None,
    solve_order: bool = True,
) -> Plan:
    """Assemble n_days of slots. `relevance(day, part)` gives scores for that slot's candidates;
    `on_pick` (groups) is told each pick and returns whose preferences it serves."""
    per_part = PART_SLOTS[slots_per_day]
    used: set[str] = set(exclude or ())
    chosen_all: list[Candidate] = []
    rel_cache: dict[tuple[int, str], dict[str, float]] = {}
    overall: dict[str, float] = {}
    for part in DAY_PARTS:  # areas are drawn from day 1's relevance: where this traveller's city is
        for vid, s in relevance(1, part).items():
            overall[vid] = max(overall.get(vid, -1e9), s)
    centres = day_centres(pool, overall, n_days)
    slots: list[PlannedSlot] = []
    fallbacks: dict[str, dict[str, list[dict]]] = {}
    reasons: list[str] = []
    day_pen: dict[int, dict[str, float]] = {}
    for d in range(1, n_days + 1):
        centre = centres[d - 1]
        pen = day_pen[d] = penalties(pool, centre)
        day_slots: list[PlannedSlot] = []
        eat_drink_left = eat_drink_cap(slots_per_day)
        for part in PICK_ORDER:
            rel = relevance(d, part)
            rel_cache[(d, part)] = rel
            adjusted = {vid: s - pen[vid] for vid, s in rel.items() if vid in pool}
            fitting = [pool[vid] for vid in adjusted if eligible(pool[vid], part, max_price_level)]
            for _ in range(per_part[part]):
                cands = [c for c in fitting if c.id not in used]
                if eat_drink_left <= 0:
                    cands = [c for c in cands if c.category not in EAT_DRINK] or cands
                if not cands:
                    reasons.append(f"day {d} {part}: no open venue fits this day part and budget")
                    break
                c = mmr_select(cands, adjusted, 1, lambda_=MMR_LAMBDA, already=chosen_all)[0]
                used.add(c.id)
                chosen_all.append(c)
                eat_drink_left -= c.category in EAT_DRINK
                serves = on_pick(d, part, c) if on_pick else []
                day_slots.append(PlannedSlot(d, 0, part, c, round(adjusted[c.id], 4), serves=serves))
        _order_day(day_slots, centre, solve_order)
        slots.extend(day_slots)
    # fallbacks after the whole trip is known, so no fallback is a venue already in the itinerary
    taken = {s.venue.id for s in slots}
    for s in slots:
        rel = rel_cache[(s.day_number, s.day_part)]
        pen = day_pen[s.day_number]
        alts = sorted(
            (pool[vid] for vid in rel if vid in pool and vid not in taken and vid not in (exclude or ())
             and eligible(pool[vid], s.day_part, max_price_level)),
            key=lambda c: -(rel[c.id] - pen[c.id]),
        )
        closed = [snapshot(c) for c in alts[:N_FALLBACKS]]
        weather = [snapshot(c) for c in alts if not is_outdoor(c.category, c.tags)][:N_FALLBACKS] \
            if is_outdoor(s.venue.category, s.venue.tags) else []
        fallbacks[slot_key(s.day_number, s.slot_order)] = {"venue_closed": closed, "weather": weather}
    empty_reason = None
    if not slots:
        empty_reason = "; ".join(reasons) or "no candidate venues for this city and these preferences"
    return Plan(slots, fallbacks, empty_reason, centres)


def _order_day(day_slots: list[PlannedSlot], centre, solve_order: bool) -> None:
    part_rank = {p: i for i, p in enumerate(DAY_PARTS)}
    day_slots.sort(key=lambda s: part_rank[s.day_part])
    if solve_order and day_slots:
        stops = [(s.venue.lat, s.venue.lon) if s.venue.lat is not None and s.venue.lon is not None else None
                 for s in day_slots]
        start = centre or next((p for p in stops if p is not None), None)
        result = order_stops(start, stops, [visit_window(s.venue.hours, s.day_part) for s in day_slots])
        if result is not None:
            order, arrivals = result
            reordered = [day_slots[i] for i in order]
            for s, minute in zip(reordered, arrivals):
                s.arrive = clock(minute)
            day_slots[:] = reordered
    for i, s in enumerate(day_slots, start=1):
        s.slot_order = i

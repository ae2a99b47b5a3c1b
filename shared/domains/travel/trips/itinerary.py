"""Itinerary assembly: from per-(day, day part) relevance to dated days of timed stops a traveller would accept.

Steps, and why:
1. Template: each date gets the day model's stops (daymodel.day_template): visits, lunch and dinner at the
   local hours, breakfast and a night stop when the tags ask for them.
2. Areas: k-means over the best venues' coordinates gives a few more areas than days, and each traveller
   draws one per day (weighted by the area's relevance), so a day stays in one part of town and different
   travellers see different parts; every candidate pays a distance penalty from its day's area centre, and
   venues without usable coordinates are planned only when nothing located fits.
3. Fill: meals first (dinner anchors the evening), then visits, night and breakfast. A stop takes the best
   venue that fits its kind (stops.fits), is in season, within budget, unused, and open long enough inside
   the stop's window *on that date*. When the traveller's tags apply to the stop and a venue with evidence
   for them is within reach (EVIDENCE_REACH of distance cost), the choice is among those venues; distance
   from the day's area and from the stops already chosen that day costs. MMR across the whole
   trip keeps day 3 from being day 1.
   A first visit gets landmarks: its first visit that can reach one is a landmark (one matching the tags when
   there is such a landmark), and later visits take further landmarks, up to the trip's share, only when they
   match the tags: the Louvre is a must-see, a second museum on an outdoors trip is not.
   A half-day's second or third visit is left out when nothing near matches the traveller's interests
   (the stays around it stretch instead).
   A wait of FILL_GAP_MIN or more left after scheduling (a museum that closes at 17:00, dinner at 19:30) gets
   a break: a short stop near the previous one that matches the interests or is a park, viewpoint, market
   or street anyone can drop into; the day is then scheduled again.
4. Schedule: OR-Tools orders the day's stops inside their windows (narrowed to the venue's opening that
   date), minimising travel; a forward pass then sets arrival times with real travel legs (walking, or a
   transit estimate for long legs), seats meals at the local hour, and lets a stay stretch (up to its type's
   longest visit, never past closing) instead of leaving the traveller idle. A stop that would fall outside
   its venue's hours is dropped rather than planned closed.
5. Fallbacks: for every slot the next-best venues that fit the same stop and are open at its time (and
   indoor ones for outdoor visits) are stored with the trip, so venue_closed and weather pivots need no
   ranker call.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from shared.domains.travel.trips import stops
from shared.domains.travel.trips.daymodel import LocalTimes, StopSpec, clock, day_template, duration, minutes
from shared.domains.travel.trips.evidence import applicable_tags, tag_evidence
from shared.domains.travel.trips.geo import areas, haversine_km, leg, order_stops
from shared.domains.travel.trips.tags import Tags
from shared.engine.serving.mmr import mmr_select
from shared.engine.serving.types import Candidate

GEO_WEIGHT = 0.35          # relevance lost per km beyond the free radius from the day's area centre
GEO_FREE_KM = 0.6
GEO_CAP = 1.2
IMPRECISE_PENALTY = 0.25   # a venue placed only at its city's centre
MMR_LAMBDA = 0.75
N_FALLBACKS = 3
LANDMARK_BONUS = 0.45
EVIDENCE_BONUS = 0.5       # a venue with evidence for the traveller's tag, worth ~1.5 km of extra walking
# A stop the traveller's tags apply to takes a venue with evidence for them when one costs at most this much
# distance (pen + near); a meal or a show the traveller asked for is worth a longer ride than a sight.
EVIDENCE_REACH = {"lunch": 3.0, "dinner": 3.0, "night": 3.0}
EVIDENCE_REACH_OTHER = 2.2
ANCHOR_WEIGHT = 0.45       # relevance lost per km from the stops already chosen for the day
JITTER = 0.30              # per-traveller variety: two travellers with the same tags do not get the same city
LANDMARK_REACH = 2.5       # the same for a first visit's landmark: worth a detour
AREAS_SPARE = 2            # areas clustered beyond one per day, for travellers to draw from
AREA_DRAW = 0.6            # an area's weight is scaled by 1 +/- this, per traveller
FILL_GAP_MIN = 75          # a wait this long between two stops gets a filler: a short stop near the first one,
FILLER_STAY_MIN = 30       # with room for at least this long a stay
FILLER_LEG_MIN = 10        # and a short walk each way
FILLER_MAX_KM = 1.5
MAX_FILLERS = 3
FILL_ORDER = ("dinner", "lunch", "visit", "night", "breakfast", "treat")
EXPLORE_OPTIONS = 4        # an exploring stop draws among its best few options (every rule above still holds)

Relevance = Callable[[int, str], dict[str, float]]


@dataclass
class Leg:
    km: float | None
    minutes: int
    mode: str

    def as_dict(self) -> dict:
        return {"km": None if self.km is None else round(self.km, 2), "minutes": self.minutes, "mode": self.mode}


@dataclass
class PlannedSlot:
    day_number: int
    slot_order: int
    day_part: str
    venue: Candidate
    score: float
    arrive: str | None = None
    serves: list[str] = field(default_factory=list)
    kind: str = "visit"
    depart: str | None = None
    travel: Leg | None = None
    matched: list[tuple[str, str]] = field(default_factory=list)   # (tag, evidence) the choice rests on
    decision: dict | None = None   # how the venue was chosen: options, their propensities, the chosen one


@dataclass
class Plan:
    slots: list[PlannedSlot]
    fallbacks: dict[str, dict[str, list[dict]]]
    empty_reason: str | None = None
    day_areas: list[tuple[float, float] | None] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def snapshot(c: Candidate) -> dict:
    """What a slot needs to render (and its narrative to be checked) without another catalogue read."""
    hours = stops.schedule(c)
    return {"id": c.id, "name": c.name, "category": c.category, "venue_type": stops.effective_type(c),
            "tags": list(c.tags), "lat": c.lat, "lon": c.lon, "coord_precision": c.extra.get("coord_precision")
            if c.lat is not None else None, "price_level": c.price_level, "hours": c.hours,
            "hours_source": hours.source if c.extra.get("opening") else "typical",
            "monthly": [list(r) for r in hours.monthly] or None, "quality": c.quality,
            "description": c.extra.get("description"), "address": c.extra.get("address"),
            "landmark": bool(c.extra.get("landmark")), "visit_kind": c.extra.get("visit_kind", "venue"),
            "season_months": c.extra.get("season_months"),
            "catalogued": not c.extra.get("uncatalogued", False)}


def name_key(c: Candidate) -> str:
    """Two branches of one chain (two "Trabant Coffee & Chai") are one venue to a traveller: a trip has each
    name once."""
    return "name:" + " ".join(c.name.lower().split())


def slot_key(day: int, order: int) -> str:
    return f"{day}:{order}"


def within_budget(c: Candidate, max_price_level: int | None) -> bool:
    return max_price_level is None or c.price_level is None or c.price_level <= max_price_level


def located(c: Candidate) -> bool:
    """Usable for routing: a position of its own or of its district. A venue placed only at its city's centre
    is not: its legs would be fiction (two such venues 30 km apart would be 0 km apart)."""
    return c.lat is not None and c.lon is not None and c.extra.get("coord_precision") != "city"


def point(c: Candidate) -> tuple[float, float] | None:
    return (c.lat, c.lon) if located(c) else None


def jitter(user_key: str, venue_id: str) -> float:
    return JITTER * _unit_hash(f"{user_key}|{venue_id}")


def penalties(pool: dict[str, Candidate], centre: tuple[float, float] | None) -> dict[str, float]:
    """Distance penalty from the day's area centre for every venue at once (vectorised haversine)."""
    ids = list(pool)
    imprecise = np.array([pool[i].extra.get("coord_precision") == "city" for i in ids])
    if centre is None:
        return {i: float(p) for i, p in zip(ids, np.where(imprecise, IMPRECISE_PENALTY, 0.0))}
    lat = np.array([pool[i].lat if pool[i].lat is not None else np.nan for i in ids], dtype=np.float64)
    lon = np.array([pool[i].lon if pool[i].lon is not None else np.nan for i in ids], dtype=np.float64)
    la1, lo1 = np.radians(centre[0]), np.radians(centre[1])
    la2, lo2 = np.radians(lat), np.radians(lon)
    h = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    km = 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(h, 0, 1)))
    pen = np.minimum(GEO_CAP, GEO_WEIGHT * np.maximum(0.0, km - GEO_FREE_KM))
    pen = np.where(np.isnan(pen), GEO_CAP, pen) + np.where(imprecise, IMPRECISE_PENALTY, 0.0)
    return {i: float(p) for i, p in zip(ids, pen)}


def day_centres(pool: dict[str, Candidate], overall: dict[str, float], n_days: int,
                user_key: str = "") -> list[tuple[float, float] | None]:
    """One area centre per day. The city's best venues for this traveller are clustered into a few more areas
    than days (AREAS_SPARE), and each traveller draws the days' areas weighted by how good each area is for
    them: two travellers with the same tags explore different parts of town, instead of every trip meeting
    in the same few streets."""
    ranked = sorted((v for v in pool.values() if located(v) and v.id in overall
                     and v.extra.get("coord_precision") != "city"),
                    key=lambda v: -overall[v.id])[:90]
    if len(ranked) < 3:
        return [None] * n_days
    pts = np.array([[v.lat, v.lon] for v in ranked], dtype=np.float64)
    w = np.array([max(0.0, overall[v.id]) + 1e-3 for v in ranked])
    centres, labels = areas(pts, w, n_days + AREAS_SPARE)
    totals = np.array([w[labels == i].sum() for i in range(len(centres))])
    draw = [_unit_hash(f"{user_key}|area|{c[0]:.3f},{c[1]:.3f}") for c in centres]
    keyed = totals * (1.0 - AREA_DRAW + 2 * AREA_DRAW * np.array(draw))
    chosen = [int(i) for i in np.argsort(-keyed)[:n_days]]
    return [tuple(map(float, centres[chosen[d % len(chosen)]])) for d in range(n_days)]


def _unit_hash(text: str) -> float:
    h = hashlib.blake2b(text.encode(), digest_size=4).digest()
    return int.from_bytes(h, "big") / 2**32


@dataclass
class _Choice:
    spec: StopSpec
    venue: Candidate
    score: float
    window: tuple[int, int]
    matched: list[tuple[str, str]]
    serves: list[str]
    decision: dict | None = None


@dataclass
class Trip:
    """What assembly needs to know about the trip itself."""
    dates: list[dt.date]
    tags: Tags
    local: LocalTimes
    max_price_level: int | None = None
    first_visit: bool = True
    user_key: str = ""
    explore: float = 0.0   # share of stops that take a random one of their best options (see decide)


def assemble(
    pool: dict[str, Candidate],
    relevance: Relevance,
    trip: Trip,
    *,
    exclude: set[str] | None = None,
    on_pick: Callable[[int, str, Candidate], list[str]] | None = None,
) -> Plan:
    """Assemble every date of the trip. `relevance(day, part)` scores that day part's candidates; `on_pick`
    (groups) is told each pick and returns whose preferences it serves."""
    tag_names = set(trip.tags.all)
    used: set[str] = set(exclude or ())
    chosen_all: list[Candidate] = []
    overall: dict[str, float] = {}
    for part in ("morning", "afternoon", "evening"):  # areas come from day 1: where this traveller's city is
        for vid, s in relevance(1, part).items():
            overall[vid] = max(overall.get(vid, -1e9), s)
    n_days = len(trip.dates)
    centres = day_centres(pool, overall, n_days, trip.user_key)
    any_located = sum(located(c) for c in pool.values()) >= 0.3 * max(1, len(pool))
    notes: list[str] = []
    if not any_located:
        notes.append("most venues here have no known position (only the city's): days are not grouped by area "
                     "and legs between such stops are unknown")
    landmarks_wanted = (max(1, (n_days + 1) // 2) if trip.first_visit else 0)
    landmarks_placed = 0
    slots: list[PlannedSlot] = []
    day_rel: dict[tuple[int, str], dict[str, float]] = {}
    for d, date in enumerate(trip.dates, start=1):
        pen = penalties(pool, centres[d - 1])
        template = day_template(trip.tags.pace, tag_names, trip.local)
        picks: dict[int, _Choice] = {}
        for kind in FILL_ORDER:
            for idx, spec in enumerate(template):
                if spec.kind != kind:
                    continue
                rel = day_rel.setdefault((d, spec.day_part), relevance(d, spec.day_part))
                want_landmark = ("any" if landmarks_placed == 0 else "matching") \
                    if kind == "visit" and landmarks_placed < landmarks_wanted else None
                anchor = _centroid([c.venue for c in picks.values()])
                choice = _pick(pool, rel, pen, spec, date, trip, tag_names, used, chosen_all, any_located,
                               want_landmark, anchor)
                if choice is None:
                    notes.append(f"day {d} {kind}: no open venue fits it on {date.isoformat()}")
                    continue
                if _unmatched_optional_stop(choice, picks.values(), trip.tags):
                    notes.append(f"day {d}: one {spec.day_part} {kind} left out: no venue near the day's area "
                                 "matches your tags; the other stops take the time")
                    continue
                used.update((choice.venue.id, name_key(choice.venue)))
                chosen_all.append(choice.venue)
                landmarks_placed += bool(choice.venue.extra.get("landmark"))
                choice.serves = on_pick(d, spec.day_part, choice.venue) if on_pick else []
                picks[idx] = choice
        day_slots = schedule_day(d, date, [picks[i] for i in sorted(picks)], centres[d - 1], notes)
        no_filler: set[str] = set()  # stops after which no break was found: the next-longest wait is tried
        for _ in range(MAX_FILLERS + 2):  # a long wait between two stops gets a short stop in between
            if sum(p.spec.kind == "break" for p in picks.values()) >= MAX_FILLERS:
                break
            gap = longest_gap(day_slots, no_filler)
            if gap is None:
                break
            before, free_from, arrive_by = gap
            spec = StopSpec("break", free_from, arrive_by)
            rel = day_rel.setdefault((d, spec.day_part), relevance(d, spec.day_part))
            choice = _pick(pool, rel, pen, spec, date, trip, tag_names, used, chosen_all, any_located, None,
                           point(before.venue), filler=True)
            if choice is None:
                no_filler.add(before.venue.id)
                continue
            used.update((choice.venue.id, name_key(choice.venue)))
            chosen_all.append(choice.venue)
            choice.serves = on_pick(d, spec.day_part, choice.venue) if on_pick else []
            key_before = next(k for k, c in picks.items() if c.venue.id == before.venue.id)
            picks[key_before + 0.5 ** (len(picks) + 1)] = choice  # right after the stop before the gap
            day_slots = schedule_day(d, date, [picks[i] for i in sorted(picks)], centres[d - 1], notes)
        kept = {s.venue.id for s in day_slots}
        used -= {key for c in picks.values() if c.venue.id not in kept for key in (c.venue.id, name_key(c.venue))}
        slots.extend(day_slots)
    fallbacks = _fallbacks(pool, slots, day_rel, trip, tag_names, exclude or set(), any_located)
    empty_reason = None
    if not slots:
        empty_reason = "; ".join(notes) or "no candidate venues for this city and these preferences"
    return Plan(slots, fallbacks, empty_reason, centres, notes)


def longest_gap(day_slots: list[PlannedSlot], skip: set[str] = frozenset()) -> tuple[PlannedSlot, int, int] | None:
    """(the stop before it, the first minute a filler could start, the last) of the day's longest wait, when
    the wait leaves room for a filler's shortest stay plus the walks to it and on; else None. Waits after the
    stops in `skip` are not considered."""
    best = None
    for prev, nxt in zip(day_slots, day_slots[1:]):
        if not (prev.depart and nxt.arrive):
            return None
        wait = minutes(nxt.arrive) - minutes(prev.depart) - (nxt.travel.minutes if nxt.travel else 0)
        if wait >= FILL_GAP_MIN and prev.venue.id not in skip and (best is None or wait > best[0]):
            best = (wait, prev, minutes(prev.depart) + FILLER_LEG_MIN,
                    minutes(nxt.arrive) - FILLER_STAY_MIN - FILLER_LEG_MIN)
    return None if best is None else best[1:]


def _fits_as_filler(c: Candidate, anchor: tuple[float, float] | None, wanted: tuple[str, ...]) -> bool:
    if not located(c) or (anchor is not None and haversine_km(anchor, point(c)) > FILLER_MAX_KM):
        return False
    return stops.effective_type(c) in stops.BREAK_TYPES or bool(wanted and tag_evidence(c, wanted))


def _unmatched_optional_stop(choice: _Choice, picked, tags: Tags) -> bool:
    """A stop better left out: an afternoon treat with nothing sweet about it, or a visit the traveller's
    interests apply to, with no evidence for them, when the same half-day already has a visit (an outdoors
    traveller would rather stay longer in a park than be sent to a comic convention)."""
    if choice.spec.kind == "treat":
        return not choice.matched
    if choice.spec.kind != "visit" or choice.matched or choice.venue.extra.get("landmark"):
        return False
    if not applicable_tags(tags, "visit"):
        return False
    return any(p.spec.kind == "visit" and p.spec.day_part == choice.spec.day_part for p in picked)


def _eligible(c: Candidate, spec: StopSpec, date: dt.date, trip: Trip, tag_names: set[str], any_located: bool,
              ) -> tuple[int, int] | None:
    """The arrival window when `c` can fill `spec` on `date`, else None."""
    if not (stops.plannable(c) and stops.fits(c, spec.kind, tag_names) and stops.in_season(c, date)
            and within_budget(c, trip.max_price_level)):
        return None
    if any_located and not located(c):
        return None
    shortest = duration(stops.effective_type(c), spec.kind)[0]
    return stops.arrival_window(c, date, spec.earliest, spec.latest, shortest)


def _centroid(venues: list[Candidate]) -> tuple[float, float] | None:
    pts = [point(v) for v in venues if located(v)]
    if not pts:
        return None
    return (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))


def _pick(pool, rel, pen, spec: StopSpec, date, trip: Trip, tag_names, used, chosen_all, any_located,
          want_landmark: str | None, anchor: tuple[float, float] | None = None, filler: bool = False,
          ) -> _Choice | None:
    """The best venue for one stop. `want_landmark`: "any" (the trip's first landmark: one within reach is
    taken, a matching one first), "matching" (a further one, only if it matches the tags) or None. A filler
    (a break in a long wait) is near `anchor`, and matches the traveller's interests (preferred) or is
    somewhere anyone can drop into (stops.BREAK_TYPES)."""
    windows: dict[str, tuple[int, int]] = {}
    wanted = applicable_tags(trip.tags, "visit" if filler else spec.kind)
    for vid in rel:
        c = pool.get(vid)
        if c is None or vid in used or name_key(c) in used:
            continue
        if filler and not _fits_as_filler(c, anchor, wanted):
            continue
        w = _eligible(c, spec, date, trip, tag_names, any_located)
        if w is not None:
            windows[vid] = w
    if not windows:
        return None
    evidence = {vid: tag_evidence(pool[vid], wanted) for vid in windows} if wanted else {}
    ids = list(windows)

    def near(vid: str) -> float:
        c = pool[vid]
        if anchor is None or not located(c):
            return 0.0
        return ANCHOR_WEIGHT * max(0.0, haversine_km(anchor, point(c)) - 0.5)

    distance = {vid: pen.get(vid, 0.0) + near(vid) for vid in ids}
    landmarks = [vid for vid in ids if pool[vid].extra.get("landmark") and distance[vid] <= LANDMARK_REACH]
    reach = EVIDENCE_REACH.get(spec.kind, EVIDENCE_REACH_OTHER)
    with_evidence = [vid for vid in ids if evidence.get(vid) and distance[vid] <= reach]
    if want_landmark and not wanted:  # no tags to match: every landmark is the traveller's kind of stop
        want_landmark = "any"
    matching_landmarks = [vid for vid in landmarks if evidence.get(vid)]
    if want_landmark and (matching_landmarks or (want_landmark == "any" and landmarks)):
        ids = matching_landmarks or landmarks  # a first visit sees the city's landmarks (worth a detour)
    elif with_evidence:  # the traveller's tag decides, among venues within reach
        ids = with_evidence
    scores = {vid: rel[vid] - distance[vid] + jitter(trip.user_key, vid)
              + (EVIDENCE_BONUS if evidence.get(vid) else 0.0)
              + (LANDMARK_BONUS if want_landmark and pool[vid].extra.get("landmark")
                 and (want_landmark == "any" or evidence.get(vid)) else 0.0) for vid in ids}
    best = mmr_select([pool[vid] for vid in ids], scores, 1, lambda_=MMR_LAMBDA, already=chosen_all)[0]
    decision = None if filler else decide(best.id, ids, scores, trip, f"{date}|{spec.kind}|{spec.earliest}")
    c = pool[decision["chosen"]] if decision else best
    return _Choice(spec, c, round(scores[c.id], 4), windows[c.id], evidence.get(c.id, []), [], decision)


def decide(best: str, ids: list[str], scores: dict[str, float], trip: Trip, stop_key: str) -> dict:
    """Epsilon-greedy logging policy, so that the logs can evaluate other rankers counterfactually (IPS/SNIPS):
    the options are the best choice plus the next-best EXPLORE_OPTIONS - 1 by score (every one fits the stop: the
    rules were applied before); with probability trip.explore the stop takes a uniformly drawn option, else the
    best. The draw is a hash of the traveller and the stop, so a repeated request plans the same day. The
    propensities are exact: (1 - e) + e/K for the best, e/K for each other option."""
    options = [best] + [v for v in sorted(ids, key=lambda v: (-scores[v], v)) if v != best][:EXPLORE_OPTIONS - 1]
    e, k = (trip.explore if len(options) > 1 else 0.0), len(options)
    chosen = best
    if e > 0 and _unit_hash(f"{trip.user_key}|explore|{stop_key}") < e:
        chosen = options[min(k - 1, int(_unit_hash(f"{trip.user_key}|option|{stop_key}") * k))]
    propensities = [round((1 - e) + e / k if v == best else e / k, 6) for v in options]
    return {"options": options, "propensities": propensities, "chosen": chosen, "explore": e}


def schedule_day(day: int, date: dt.date, picks: list[_Choice], centre, notes: list[str]) -> list[PlannedSlot]:
    """Order the day's stops inside their windows (OR-Tools), then set real times with a forward pass."""
    if not picks:
        return []
    stays = [duration(stops.effective_type(p.venue), p.spec.kind)[1] for p in picks]
    start = centre or next((point(p.venue) for p in picks if located(p.venue)), None)
    result = order_stops(start, [point(p.venue) for p in picks],
                         [(p.window[0] / 60.0, (p.window[1] + 1) / 60.0) for p in picks], stays)
    order = result[0] if result is not None else list(range(len(picks)))
    picks = [picks[i] for i in order]
    timed = _forward_pass(date, picks)
    out = []
    for i, (p, arrive, depart, travel) in enumerate(timed, start=1):
        if arrive is None:
            notes.append(f"day {day} {p.spec.kind}: {p.venue.name} could not be reached while open; dropped")
            continue
        out.append(PlannedSlot(day, 0, p.spec.day_part, p.venue, p.score, clock(arrive), p.serves, p.spec.kind,
                               clock(depart), travel, p.matched, p.decision))
    prev = None
    for i, s in enumerate(out, start=1):  # legs are from the previous *kept* stop
        s.slot_order = i
        s.travel = Leg(*leg(point(prev.venue), point(s.venue))) if prev is not None else None
        prev = s
    return out


def _forward_pass(date: dt.date, picks: list[_Choice]) -> list[tuple[_Choice, int | None, int | None, Leg | None]]:
    """Arrival and departure minutes for each stop in order. Meals sit down at the local hour when the previous
    stay can stretch to meet it; a stop that would be reached too late makes the previous stay shorter (down
    to its type's shortest visit); one still out of reach, or closed on arrival, gets None."""
    out: list[list] = []
    free_at: int | None = None     # when the traveller leaves the previous stop
    prev_c: Candidate | None = None
    for p in picks:
        t_leg = Leg(*leg(point(prev_c), point(p.venue))) if prev_c is not None else None
        lo, hi = p.window
        earliest = lo if free_at is None else max(lo, free_at + t_leg.minutes)
        arrive = earliest
        if p.spec.target is not None and earliest < p.spec.target <= hi:
            arrive = p.spec.target  # meals at the local hour; the previous stay stretches into the wait below
        if arrive > hi and out and out[-1][1] is not None:  # cut the previous stay short to make this one
            prev = out[-1]
            shortest = duration(stops.effective_type(prev[0].venue), prev[0].spec.kind)[0]
            earliest_leave = prev[1] + shortest
            if earliest_leave + (t_leg.minutes if t_leg else 0) <= hi:
                prev[2] = min(prev[2], hi - (t_leg.minutes if t_leg else 0))
                free_at = prev[2]
                arrive = max(lo, free_at + (t_leg.minutes if t_leg else 0))
        if arrive > hi:
            out.append([p, None, None, t_leg])
            continue
        usual = duration(stops.effective_type(p.venue), p.spec.kind)[1]
        rng = stops.open_range_at(p.venue, date, arrive)
        depart = min(arrive + usual, rng[1]) if rng else arrive + usual
        if out and out[-1][1] is not None:  # stretch the previous stay into the wait, never past its closing
            prev = out[-1]
            gap = arrive - (prev[2] + (t_leg.minutes if t_leg else 0))
            if gap > 0:
                prev[2] += min(gap, _stretch_room(prev[0], date, prev[1], prev[2]))
        out.append([p, arrive, depart, t_leg])
        free_at, prev_c = depart, p.venue
    return [tuple(x) for x in out]


def _stretch_room(p: _Choice, date: dt.date, arrive: int | None, depart: int | None) -> int:
    if arrive is None or depart is None:
        return 0
    longest = duration(stops.effective_type(p.venue), p.spec.kind)[2]
    rng = stops.open_range_at(p.venue, date, arrive)
    closing = rng[1] if rng else arrive + longest
    return max(0, min(arrive + longest, closing) - depart)


def _fallbacks(pool, slots: list[PlannedSlot], day_rel, trip: Trip, tag_names, exclude, any_located) -> dict:
    """Per slot: the best unused venues that fit the same stop and are open for it at its planned time."""
    taken = {s.venue.id for s in slots}
    out: dict[str, dict[str, list[dict]]] = {}
    for s in slots:
        date = trip.dates[s.day_number - 1]
        at = int(s.arrive[:2]) * 60 + int(s.arrive[3:])
        spec = StopSpec(s.kind, at, at)
        rel = day_rel.get((s.day_number, s.day_part), {})
        alts = sorted((pool[vid] for vid in rel if vid in pool and vid not in taken and vid not in exclude
                       and _eligible(pool[vid], spec, date, trip, tag_names, any_located) is not None),
                      key=lambda c: -rel[c.id])
        closed = [snapshot(c) for c in alts[:N_FALLBACKS]]
        weather = [snapshot(c) for c in alts if not stops.is_outdoor(c)][:N_FALLBACKS] \
            if stops.is_outdoor(s.venue) else []
        out[slot_key(s.day_number, s.slot_order)] = {"venue_closed": closed, "weather": weather}
    return out


def day_km(day_slots: list[dict]) -> float:
    """Straight-line km between consecutive stops of one rendered day that have a usable position (exact or
    district); a stop placed only at its city's centre adds no distance (its leg is unknown)."""
    pts = [(s["venue"]["lat"], s["venue"]["lon"]) for s in day_slots
           if s["venue"].get("lat") is not None and s["venue"].get("lon") is not None
           and s["venue"].get("coord_precision") != "city"]
    return round(sum(haversine_km(a, b) for a, b in zip(pts, pts[1:])), 2)

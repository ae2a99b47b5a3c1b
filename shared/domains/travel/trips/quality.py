"""What a traveller would reject in a planned trip, counted: the itinerary benchmark's measures, kept next to
the rules they check so that the planner and its judge read the same definitions.

A `Tally` takes rendered trips (the API's view model), the request's tags and the catalogue rows of the
planned venues, and reports per city and overall:
- open-hours violations: a stop whose stay is not inside one opening of that date. Counted separately for
  venues with listed (parsed) hours and for venues planned on the typical hours of their type; events planned
  out of season and venues the catalogue marks unplannable (services, gyms, ...) are counted too;
- bars and clubs arriving before 16:00; restaurants arriving outside the city's lunch and dinner windows;
- lunch and dinner coverage: days with a lunch (dinner) stop that starts inside the local window;
- the last arrival of each day (median; separately for trips whose tags ask for a night out);
- idle time: the longest wait between leaving a stop (plus the leg) and arriving at the next (the planner
  fills long waits with breaks: short stops near the previous one, counted under "breaks");
- coordinates: the share of stops with a usable position (their own, or their district's centroid), and the
  share at each precision (a venue placed only at its city's centre is counted under "city", not as located);
- km per day (straight lines between consecutive located stops), median and p90, and of those the km
  walked (legs up to geo.WALK_MAX_KM; longer legs are a transit ride);
- tag match: among stops the traveller's tags apply to (evidence.applicable_tags: coffee to breakfast,
  dessert to the treat, other food tags to meals, interests and vibe to visits, drinks and nightlife to the
  night stop, none to a break), the share whose
  venue has catalogue evidence for at least one of those tags (a taxonomy term among its tags, or a keyword
  in its name or description: evidence.evidence_for, the same rule the narrative must obey). Alongside: the
  same rate leaving out misses no venue of the city could have avoided (servable_pairs), and tag coverage,
  the share of the tags a traveller asked for that at least one stop of their trip serves;
- false claims: stops with at least one narrative claim the data does not support (narrative.check_claims);
- landmark coverage: first-visit trips of two days or more with at least one landmark;
- concentration: the largest share of a city's trips (each for a different traveller) that share one
  venue which is not a landmark.
"""
from __future__ import annotations

import datetime as dt
import json
import statistics
from collections import Counter
from dataclasses import dataclass, field

from shared.domains.travel.trips.daymodel import NIGHT_TAGS, local_times, minutes
from shared.domains.travel.trips.evidence import applicable_tags, evidence_for, venue_text
from shared.domains.travel.trips.narrative import check_claims
from shared.domains.travel.trips.stops import BAR_TYPES
from shared.domains.travel.trips.tags import Tags

BARS_FROM = minutes("16:00")
LONG_IDLE_MIN = 90  # a wait this long between stops is shown among the examples
EXAMPLES = 12  # examples kept per problem, so a failing figure points at the stops behind it


def _schedule(node: dict | None, venue: dict):
    from shared.domains.travel.catalogue.hours import Schedule, typical

    opening = (node or {}).get("opening")
    if opening:
        return Schedule.from_json(json.loads(opening) if isinstance(opening, str) else opening), "listed"
    return typical(venue.get("venue_type") or "", venue.get("category") or ""), "typical"


def _inside(ranges, start: int, end: int) -> bool:
    return any(a <= start and end <= b for a, b in ranges)


def servable_pairs(nodes: list[dict], tag_names, kinds=("breakfast", "visit", "lunch", "treat", "dinner",
                                                         "night")) -> set[tuple[str, str]]:
    """(tag, stop kind) pairs that at least one plannable venue among `nodes` could serve: it fits the stop
    and has evidence for the tag (opening hours and distance aside, so this is generous to the catalogue)."""
    from shared.domains.travel.trips.stops import fits

    out = set()
    for n in nodes:
        c = _as_candidate(n)
        text = venue_text(n["name"], n.get("description"))
        for tag in tag_names:
            if evidence_for(tag, n.get("vibe_tags") or [], text) is None:
                continue
            out.update((tag, k) for k in kinds if fits(c, k, set(tag_names)))
    return out


def _as_candidate(n: dict):
    from shared.engine.serving.types import Candidate

    return Candidate(id=n["id"], name=n["name"], category=(n.get("category") or "").lower(),
                     tags=tuple(n.get("vibe_tags") or ()), vector=None, retrieval_score=0.0, quality=0.0,
                     extra={"venue_type": n.get("venue_type"), "text": venue_text(n["name"], n.get("description"))})


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass
class Tally:
    trips: int = 0
    days: int = 0
    slots: int = 0
    breaks: int = 0
    empty_days: int = 0
    listed: int = 0
    listed_violations: int = 0
    typical: int = 0
    typical_violations: int = 0
    out_of_season: int = 0
    unplannable: int = 0
    bars_before_16: int = 0
    restaurants: int = 0
    restaurants_outside_meals: int = 0
    days_with_lunch: int = 0
    days_with_dinner: int = 0
    located: int = 0
    precision: Counter = field(default_factory=Counter)
    tag_slots: int = 0
    tag_matched: int = 0
    tag_by_kind: Counter = field(default_factory=Counter)  # (kind, matched) -> stops
    tag_miss_no_venue: int = 0  # misses where no venue of the city could have matched (see servable)
    tags_asked: int = 0
    tags_served: int = 0
    false_claim_slots: int = 0
    landmark_eligible: int = 0
    landmark_trips: int = 0
    last_arrivals: list[int] = field(default_factory=list)
    last_arrivals_night: list[int] = field(default_factory=list)
    idle_max: list[int] = field(default_factory=list)
    km: list[float] = field(default_factory=list)
    walk_km: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    venue_trips: Counter = field(default_factory=Counter)
    landmark_ids: set = field(default_factory=set)
    names: dict = field(default_factory=dict)
    examples: dict = field(default_factory=dict)

    def _example(self, problem: str, text: str) -> None:
        kept = self.examples.setdefault(problem, [])
        if len(kept) < EXAMPLES:
            kept.append(text)

    def add(self, trip: dict, tags: Tags, nodes: dict[str, dict], *, first_visit: bool = True,
            latency_ms: float | None = None, servable: set[tuple[str, str]] | None = None) -> None:
        """One rendered trip. `nodes`: activity_nodes rows (as dicts) by venue id; `first_visit`: the traveller
        had not been to the city (the bench uses new travellers); `servable`: the (tag, stop kind) pairs some
        plannable venue of the city could serve (servable_pairs), to tell a planner's miss from a catalogue's."""
        self.trips += 1
        if latency_ms is not None:
            self.latency_ms.append(latency_ms)
        city = (trip.get("city") or {}).get("id") or ""
        windows = local_times(city).windows()
        lunch, dinner = [tuple(minutes(t) for t in windows[k]) for k in ("lunch", "dinner")]
        night_trip = any(t in NIGHT_TAGS for t in tags.all)
        seen, has_landmark, served = set(), False, set()
        for day in trip.get("days") or []:
            self.days += 1
            date = dt.date.fromisoformat(day["date"])
            slots = day.get("slots") or []
            if not slots:
                self.empty_days += 1
                continue
            self.km.append(float(day.get("km") or 0.0))
            self.walk_km.append(sum((s.get("travel") or {}).get("km") or 0.0 for s in slots
                                    if (s.get("travel") or {}).get("mode") == "walk"))
            arrivals, idle, previous = [], 0, None
            for slot in slots:
                self.slots += 1
                venue, kind = slot["venue"], slot.get("kind") or "visit"
                self.breaks += kind == "break"
                node = nodes.get(venue["id"])
                where = f"{city} {day['date']} {slot.get('arrive')} {kind} {venue['name']}"
                arrive = minutes(slot["arrive"]) if slot.get("arrive") else None
                depart = minutes(slot["depart"]) if slot.get("depart") else None
                if arrive is not None:
                    arrivals.append(arrive)
                self._hours(node, venue, date, arrive, depart, where)
                self._venue_kind(node, venue, kind, date, arrive, lunch, dinner, where)
                if kind == "lunch" and arrive is not None and lunch[0] <= arrive <= lunch[1]:
                    self.days_with_lunch += 1
                if kind == "dinner" and arrive is not None and dinner[0] <= arrive <= dinner[1]:
                    self.days_with_dinner += 1
                if venue.get("lat") is not None and venue.get("lon") is not None:
                    precision = venue.get("coord_precision") or "exact"
                    self.precision[precision] += 1
                    self.located += precision != "city"
                served |= self._tags(node, venue, tags, kind, where, servable)
                problems = check_claims(slot, node, previous)
                if problems:
                    self.false_claim_slots += 1
                    self._example("false_claims", f"{where}: {problems[0]}")
                if previous is not None and arrive is not None and previous.get("depart"):
                    travel = (slot.get("travel") or {}).get("minutes") or 0
                    wait = arrive - minutes(previous["depart"]) - travel
                    idle = max(idle, wait)
                    if wait >= LONG_IDLE_MIN:
                        self._example("idle", f"{where}: {wait} min idle after {previous['venue']['name']} "
                                              f"(left {previous['depart']})")
                landmark = bool((node or venue).get("landmark"))
                has_landmark |= landmark
                if landmark:
                    self.landmark_ids.add(venue["id"])
                seen.add(venue["id"])
                self.names[venue["id"]] = venue["name"]
                previous = slot
            for meal, (lo, hi) in (("lunch", lunch), ("dinner", dinner)):
                if not any(s.get("kind") == meal and lo <= minutes(s["arrive"]) <= hi for s in slots if s.get("arrive")):
                    self._example(f"no_{meal}", f"{city} {day['date']}: " + ", ".join(
                        f"{s.get('arrive')} {s.get('kind')} {s['venue']['name']}" for s in slots))
            if arrivals:
                (self.last_arrivals_night if night_trip else self.last_arrivals).append(max(arrivals))
            self.idle_max.append(idle)
        self.venue_trips.update(seen)
        self.tags_asked += len(set(tags.all))
        self.tags_served += len(served)
        if first_visit and len(trip.get("days") or []) >= 2:
            self.landmark_eligible += 1
            self.landmark_trips += has_landmark

    def _hours(self, node, venue, date, arrive, depart, where) -> None:
        if arrive is None:
            return
        schedule, source = _schedule(node, venue)
        end = depart if depart is not None and depart > arrive else arrive + 1
        ok = _inside(schedule.ranges_on(date), arrive, end)
        if source == "listed":
            self.listed += 1
            self.listed_violations += not ok
        else:
            self.typical += 1
            self.typical_violations += not ok
        if not ok:
            self._example(f"closed_{source}", f"{where} (hours: {venue.get('hours') or 'typical'})")

    def _venue_kind(self, node, venue, kind, date, arrive, lunch, dinner, where) -> None:
        info = node or {}
        vtype = info.get("venue_type") or venue.get("venue_type")
        if info.get("visit_kind") == "event" and date.month not in (info.get("season_months") or []):
            self.out_of_season += 1
            self._example("out_of_season", where)
        if node is not None and (not node.get("plannable", True) or node.get("visit_kind") == "service"):
            self.unplannable += 1
            self._example("unplannable", f"{where} ({node.get('plannable_reason')})")
        if arrive is None:
            return
        if vtype in BAR_TYPES and arrive < BARS_FROM:
            self.bars_before_16 += 1
            self._example("bars_before_16", where)
        if vtype == "restaurant":
            self.restaurants += 1
            if not (lunch[0] <= arrive <= lunch[1] or dinner[0] <= arrive <= dinner[1]):
                self.restaurants_outside_meals += 1
                self._example("restaurants_outside_meals", where)

    def _tags(self, node, venue, tags: Tags, kind: str, where: str, servable) -> set[str]:
        """Count the stop for tag match; return the traveller's tags it serves (for tag coverage)."""
        wanted = applicable_tags(tags, kind)
        if not wanted:
            return set()
        src = node or {"vibe_tags": venue.get("tags") or [], "name": venue["name"],
                       "description": venue.get("description")}
        text = venue_text(src["name"], src.get("description"))
        served = {t for t in wanted if evidence_for(t, src.get("vibe_tags") or [], text)}
        self.tag_slots += 1
        self.tag_by_kind[kind, bool(served)] += 1
        if served:
            self.tag_matched += 1
        else:
            self._example("tag_miss", f"{where} (wanted {', '.join(wanted)})")
            if servable is not None and not any((t, kind) in servable for t in wanted):
                self.tag_miss_no_venue += 1
        return served

    # --- the report -------------------------------------------------------------------------------------------
    def concentration(self) -> dict:
        """The most shared venues across this tally's trips; `top_non_landmark_share` is the figure to watch."""
        top = [{"venue": self.names.get(v, v), "id": v, "trips": n, "share": _share(n, self.trips),
                "landmark": v in self.landmark_ids} for v, n in self.venue_trips.most_common(8)]
        non_landmark = [t for t in top if not t["landmark"]]
        return {"top_non_landmark_share": non_landmark[0]["share"] if non_landmark else 0.0, "top": top}

    def _tag_rate_by_kind(self) -> dict:
        kinds = sorted({k for k, _ in self.tag_by_kind})
        return {k: _share(self.tag_by_kind[k, True], self.tag_by_kind[k, True] + self.tag_by_kind[k, False])
                for k in kinds}

    def summary(self) -> dict:
        def clock(values):
            m = _median(values)
            return None if m is None else f"{int(m) // 60:02d}:{int(m) % 60:02d}"

        planned_days = self.days - self.empty_days
        return {
            "trips": self.trips, "days": self.days, "empty_days": self.empty_days, "slots": self.slots,
            "breaks": self.breaks,
            "open_hours_violations": {"listed_hours_slots": self.listed, "listed_violations": self.listed_violations,
                                      "typical_hours_slots": self.typical,
                                      "typical_violations": self.typical_violations,
                                      "events_out_of_season": self.out_of_season,
                                      "unplannable_planned": self.unplannable},
            "bars_before_16": self.bars_before_16,
            "restaurants_outside_meal_windows": self.restaurants_outside_meals, "restaurant_slots": self.restaurants,
            "lunch_coverage": _share(self.days_with_lunch, planned_days),
            "dinner_coverage": _share(self.days_with_dinner, planned_days),
            "median_last_arrival": clock(self.last_arrivals),
            "median_last_arrival_nightlife": clock(self.last_arrivals_night),
            "longest_idle_gap_min": {"max": max(self.idle_max, default=None),
                                     "median_of_days": _median(self.idle_max),
                                     "p90_of_days": percentile(self.idle_max, 0.9)},
            "coordinates": {"share": _share(self.located, self.slots),
                            "precision": {k: _share(n, self.slots) for k, n in sorted(self.precision.items())}},
            "km_per_day": {"median": _median(self.km), "p90": percentile(self.km, 0.9)},
            "walking_km_per_day": {"median": _median(self.walk_km), "p90": percentile(self.walk_km, 0.9)},
            "tag_match": {"rate": _share(self.tag_matched, self.tag_slots),
                          "slots_with_applicable_tags": self.tag_slots, "rate_by_kind": self._tag_rate_by_kind(),
                          "tag_coverage": _share(self.tags_served, self.tags_asked),
                          "misses_with_no_venue_in_city": self.tag_miss_no_venue,
                          "rate_where_the_city_has_a_venue": _share(self.tag_matched,
                                                                    self.tag_slots - self.tag_miss_no_venue)},
            "false_claim_rate": _share(self.false_claim_slots, self.slots),
            "landmark_coverage": {"rate": _share(self.landmark_trips, self.landmark_eligible),
                                  "first_visit_trips_2d_plus": self.landmark_eligible},
            "concentration": self.concentration(),
            "latency_ms": {"p50": percentile(self.latency_ms, 0.5), "p95": percentile(self.latency_ms, 0.95),
                           "n": len(self.latency_ms)},
            "examples": self.examples,
        }

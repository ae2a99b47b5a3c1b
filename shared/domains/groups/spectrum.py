"""Five plans for one outing, ordered from safe to adventurous, that every member can actually join.

Why a spectrum and not a ranked list: a friend group decides by comparing a few real choices, and the choice
it argues about is "the place we know works" against "something new". Five options, one per band of novelty,
make that argument legible; each is the best the group can do at its level of novelty.

How, in order:
1. Slots. The window holds one stop under 2 hours, two under 3.5 hours, else three. Stops are at most a
   HOP_MIN hop apart (geo.leg), so each stop's time is fixed before any venue is chosen: the window less
   HOP_MIN per hop, split equally. The slot overlapping lunch (11:30-14:30) or dinner (17:30-21:30) most, by
   at least 45 minutes, is the meal; the others take a visit, a night stop or a treat (stops.fits).
2. Pool. Each venue passes, in this order, the checks that can empty a pool: in the catalogue (plannable,
   located, in season, fits a slot), open for the whole slot (stops.schedule: listed hours, else the typical
   hours of its type), within the lowest budget, every member's diet at food stops, every member's access
   needs at every stop. The venues left after each check are counted, so a pool too small for five options
   names the check that emptied it (NotEnoughOptions) instead of padding the spectrum.
3. Plans. Per slot the few best, least novel and most novel venues (PER_SLOT), plus for each venue of the
   slot before the best NEIGHBOURS within a hop of it, are combined; a plan keeps
   distinct venues, hops of at most HOP_MIN and a total cost within every member's budget.
4. Scores. A member's satisfaction with a plan is the mean over its stops of their taste match (the tastes
   that apply to that kind of stop, with evidence at the venue: evidence.applicable_tags and evidence_for, as
   for trips) blended with the venue's quality; it is absolute, so members compare, and
   shared.engine.group_ranking combines it under the group's aggregation.
5. Five. Plans sorted by novelty are cut into five equal bands; each band gives its best plan that shares no
   venue with the options already chosen (looking further along the spectrum when the band has none; else the
   best less an overlap penalty), so five options are five different outings, still safe first.

Rules (each is data a checker can verify, see check_option):
- cost per person from the price level: 0 -> 0, 1 -> 15, 2 -> 30, 3 -> 60, 4 -> 100 (the group's currency,
  calibrated on USD/EUR city prices: level 2 is a main course and a drink, level 4 a tasting menu). An
  unpriced venue costs 0 with evidence of free entry (vibe tag "free") or when it is an open space (park,
  garden, beach, viewpoint, nature, neighbourhood), else level 2: an unpriced venue is never assumed cheap.
- a diet applies to food stops (lunch, dinner, treat); a bar or a museum needs no menu. A food stop needs,
  for each diet of each member, a vibe tag or a word in its name or description (DIETS); no evidence, no stop.
- step-free access applies to every stop, with the same kind of evidence (ACCESS).
- novelty of a stop: 0.4 a kind of venue (stops.effective_type) the group has not done and liked, 0.25 a new
  area, 0.15 a new venue, 0.2 the share of members with no stated taste for it (so a group without history
  still has a spectrum: familiar is what its members said they like). A plan's novelty is its stops' mean.
- an area is the venue's `area` (or `neighbourhood`) from the catalogue, else a fixed 0.02° grid cell
  (about 2 km): fixed so that an area means the same thing from one month to the next.
"""
from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np

from shared.domains.errors import InvalidRequest
from shared.domains.travel.trips.evidence import VOCAB, applicable_tags, evidence_for, venue_text
from shared.domains.travel.trips.geo import leg
from shared.domains.travel.trips.stops import OUTDOOR_TYPES, effective_type, fits, in_season, plannable, schedule
from shared.domains.travel.trips.tags import FOOD, INTERESTS, Tags
from shared.engine.group_ranking import aggregation as group_aggregation
from shared.engine.group_ranking import member_satisfaction
from shared.engine.serving.types import Candidate

OPTIONS = 5
LABELS = ("safe", "familiar", "balanced", "fresh", "adventurous")
PRICE_PER_PERSON = (0.0, 15.0, 30.0, 60.0, 100.0)
UNPRICED_LEVEL = 2
FREE_ENTRY_TYPES = OUTDOOR_TYPES | {"neighbourhood"}
# requirement -> (vibe tags that are evidence, words in the name or description that are evidence)
DIETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "vegetarian": (("vegetarian-friendly", "vegetarian", "vegan"), ("vegetarian", "vegan", "veggie", "plant-based")),
    "vegan": (("vegan",), ("vegan", "plant-based")),
    "halal": (("halal",), ("halal",)),
    "gluten_free": (("gluten-free",), ("gluten-free", "gluten free", "celiac", "coeliac")),
}
ACCESS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "step_free": (("step-free", "wheelchair-accessible"),
                  ("step-free", "step free", "wheelchair", "level access", "accessible entrance")),
}
FOOD_ROLES = frozenset({"lunch", "dinner", "treat"})
OTHER_ROLES = ("visit", "night", "treat")
MEAL_TIMES = {"lunch": (11 * 60 + 30, 14 * 60 + 30), "dinner": (17 * 60 + 30, 21 * 60 + 30)}
MIN_MEAL_OVERLAP = 45
HOP_MIN = 20
PER_SLOT = 16                 # 4 best, 4 least novel, 4 most novel, 4 cheapest venues per slot
NEIGHBOURS = 3                # and per venue of the slot before, the best 3 within a hop of it
QUALITY_WEIGHT = 0.2
NOVELTY_WEIGHTS = {"kind": 0.4, "area": 0.25, "venue": 0.15, "untasted": 0.2}
OVERLAP_PENALTY = 0.25
AREA_DEG = 0.02
MIN_WINDOW = dt.timedelta(minutes=30)
MAX_WINDOW = dt.timedelta(hours=12)


# --- inputs ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Member:
    """A group member as planning sees them. `preferences` maps onboarding tags (tags.py vocabulary), vibe
    terms, venue types or categories to weights (negative: dislikes); `budget` is per person per outing in the
    group's currency (None: no limit); `seats` are passenger seats offered (0: no car)."""
    user_id: str
    preferences: Mapping[str, float] = field(default_factory=dict)
    diet: frozenset[str] = frozenset()
    access: frozenset[str] = frozenset()
    budget: float | None = None
    home: tuple[float, float] | None = None
    seats: int = 0
    name: str = ""

    @property
    def display_name(self) -> str:
        return self.name or self.user_id


@dataclass(frozen=True)
class GroupHistory:
    """What the group already did and liked: venue ids, kinds of venue (stops.effective_type) and areas."""
    venue_ids: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    areas: frozenset[str] = frozenset()


@dataclass(frozen=True)
class OutingWindow:
    """When the outing happens. `tz` is the city's time zone: venue hours are local, whatever zone the
    window's datetimes were given in (availability.Window may be in UTC)."""
    start: dt.datetime
    end: dt.datetime
    tz: ZoneInfo

    def __post_init__(self):
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidRequest("the window needs time-zone-aware start and end", "window")
        if not MIN_WINDOW <= self.end - self.start <= MAX_WINDOW:
            raise InvalidRequest("an outing lasts between 30 minutes and 12 hours", "window")

    @classmethod
    def of(cls, window, tz: ZoneInfo) -> "OutingWindow":
        """From anything with start and end (availability.Window), read in the city's zone."""
        return cls(window.start.astimezone(tz), window.end.astimezone(tz), tz)


# --- outputs -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stop:
    venue_id: str
    name: str
    role: str                  # a stops.fits kind: lunch, dinner, treat, visit, night
    start: dt.datetime
    end: dt.datetime
    cost_per_person: float
    category: str              # stops.effective_type: what history and novelty count
    area: str
    lat: float
    lon: float
    address: str | None = None
    hours_source: str = "listed"   # or "typical": the hours are assumed from the venue's type

    @property
    def is_food(self) -> bool:
        return self.role in FOOD_ROLES

    def as_dict(self) -> dict:
        return {"venue_id": self.venue_id, "name": self.name, "role": self.role, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "cost_per_person": self.cost_per_person, "category": self.category,
                "area": self.area, "lat": self.lat, "lon": self.lon, "address": self.address,
                "hours_source": self.hours_source}


@dataclass(frozen=True)
class Claim:
    """One sentence of an explanation and the venue data it rests on ("tag:<term>", "text:<word>",
    "type:<venue type>", "category:<c>", "price_level:<n>"), so check_option can verify it."""
    member: str
    venue_id: str | None       # None: about the whole plan (the budget)
    kind: str                  # taste | diet | access | budget
    subject: str               # the preference key, diet, access need, or "total"
    claim: str
    evidence: str

    def as_dict(self) -> dict:
        return {"member": self.member, "venue": self.venue_id, "kind": self.kind, "subject": self.subject,
                "claim": self.claim, "evidence": self.evidence}


@dataclass(frozen=True)
class Option:
    rank: int                  # 0 safe ... 4 adventurous
    label: str
    stops: tuple[Stop, ...]
    cost_per_person: float
    novelty: float
    group_score: float
    aggregation: str
    satisfaction: Mapping[str, float]
    explanations: Mapping[str, tuple[Claim, ...]]

    @property
    def venue_ids(self) -> tuple[str, ...]:
        return tuple(s.venue_id for s in self.stops)

    @property
    def least_satisfaction(self) -> float:
        return min(self.satisfaction.values(), default=0.0)

    def as_dict(self) -> dict:
        return {"rank": self.rank, "label": self.label, "stops": [s.as_dict() for s in self.stops],
                "cost_per_person": self.cost_per_person, "novelty": round(self.novelty, 3),
                "group_score": round(self.group_score, 4), "aggregation": self.aggregation,
                "satisfaction": {u: round(v, 4) for u, v in self.satisfaction.items()},
                "explanations": {u: [c.as_dict() for c in cs] for u, cs in self.explanations.items()}}


class NotEnoughOptions(InvalidRequest):
    """Fewer than five distinct plans are feasible. `constraint` names the check that emptied the pool and
    `funnel` the venues left after each check, so the group knows what to relax."""
    code = "not_enough_options"

    def __init__(self, message: str, field: str, *, constraint: str, funnel: list[tuple[str, int]]):
        super().__init__(message, field)
        self.constraint = constraint
        self.funnel = funnel


# --- venue facts (one definition each, shared by planning and checking) --------------------------------------------
def cost_per_person(venue: Candidate) -> tuple[float, str]:
    """(estimated cost per person, the evidence it rests on)."""
    if venue.price_level is not None:
        level = min(4, max(0, int(venue.price_level)))
        return PRICE_PER_PERSON[level], f"price_level:{level}"
    if "free" in venue.tags:
        return 0.0, "tag:free"
    kind = effective_type(venue)
    if kind in FREE_ENTRY_TYPES:
        return 0.0, f"type:{kind}"
    return PRICE_PER_PERSON[UNPRICED_LEVEL], "price_level:unknown"


def _text(venue: Candidate) -> str:
    return venue_text(venue.name, venue.extra.get("description"))


def requirement_evidence(requirement: str, venue: Candidate) -> list[str]:
    """Every piece of evidence that the venue meets a diet or access need, tags first."""
    terms, words = {**DIETS, **ACCESS}[requirement]
    text = _text(venue)
    return ([f"tag:{t}" for t in terms if t in venue.tags]
            + [f"text:{w}" for w in words if re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", text)])


def taste_applies(key: str, role: str | None) -> bool:
    """Whether a taste is a reason to pick a venue for this kind of stop, by the trips domain's one rule
    (evidence.applicable_tags): a taste for seafood says where to eat, not which park to walk in; a taste for
    parks says where to walk, not where to eat. Keys outside the onboarding vocabulary (learned from
    retrospectives: vibe terms, venue types) apply to every stop; role None asks about the venue alone."""
    if role is None or key not in VOCAB:
        return True
    group = "food" if key in FOOD else "interests" if key in INTERESTS else "vibe"
    return key in applicable_tags(Tags(**{group: (key,)}), role)


def taste_evidence(key: str, venue: Candidate, role: str | None = None) -> str | None:
    """The evidence that the venue matches a preference key at a stop of this role, or None. Onboarding tags use
    the trips domain's definition of evidence; any other key matches a vibe tag, the venue type or the category."""
    if not taste_applies(key, role):
        return None
    if key in VOCAB:
        return evidence_for(key, venue.tags, _text(venue))
    if key in venue.tags:
        return f"tag:{key}"
    if key == effective_type(venue):
        return f"type:{key}"
    if venue.category and key == venue.category:
        return f"category:{key}"
    return None


def area_of(venue: Candidate) -> str:
    named = venue.extra.get("area") or venue.extra.get("neighbourhood")
    if named:
        return str(named)
    return f"grid:{math.floor(venue.lat / AREA_DEG)}:{math.floor(venue.lon / AREA_DEG)}"


def open_during(venue: Candidate, start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> bool:
    """Open for the whole stop on that local date (one opening, no break inside) and in season."""
    local = start.astimezone(tz)
    first = local.hour * 60 + local.minute
    last = first + math.ceil((end - start).total_seconds() / 60)
    return in_season(venue, local.date()) and schedule(venue).is_open(local.date(), first, last)


def taste_score(member: Member, venue: Candidate, role: str | None = None) -> float:
    """The member's predicted satisfaction with this venue at this stop, in [0, 1]: the weighted share of the
    tastes that apply to the stop which the venue serves, blended with its quality. A member with no taste that
    applies here is indifferent to all but quality (their score is the quality), rather than unhappy."""
    applying = {k: w for k, w in member.preferences.items() if taste_applies(k, role)}
    total = sum(abs(w) for w in applying.values())
    if not total:
        return float(venue.quality)
    matched = sum(w for k, w in applying.items() if taste_evidence(k, venue, role))
    return min(1.0, max(0.0, (1 - QUALITY_WEIGHT) * matched / total + QUALITY_WEIGHT * float(venue.quality)))


def stop_novelty(venue: Candidate, history: GroupHistory, members: Sequence[Member], role: str | None = None) -> float:
    tasted = sum(1 for m in members
                 if any(w > 0 and taste_evidence(k, venue, role) for k, w in m.preferences.items()))
    w = NOVELTY_WEIGHTS
    return (w["kind"] * (effective_type(venue) not in history.categories)
            + w["area"] * (area_of(venue) not in history.areas)
            + w["venue"] * (venue.id not in history.venue_ids)
            + w["untasted"] * (1 - tasted / len(members)))


def _tag_names(members: Sequence[Member]) -> set[str]:
    return {k for m in members for k, w in m.preferences.items() if w > 0}


# --- slots -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Slot:
    start: dt.datetime
    end: dt.datetime
    roles: tuple[str, ...]


def _minute_of_day(t: dt.datetime, tz: ZoneInfo) -> int:
    local = t.astimezone(tz)
    return local.hour * 60 + local.minute


def plan_slots(window: OutingWindow) -> list[_Slot]:
    minutes = int((window.end - window.start).total_seconds() // 60)
    n = 1 if minutes < 120 else 2 if minutes < 210 else 3
    stay = (minutes - (n - 1) * HOP_MIN) // n
    spans = []
    for i in range(n):
        start = window.start + dt.timedelta(minutes=i * (stay + HOP_MIN))
        spans.append((start, start + dt.timedelta(minutes=stay)))
    meal = None
    for i, (start, _end) in enumerate(spans):
        first = _minute_of_day(start, window.tz)
        for name, (a, b) in MEAL_TIMES.items():
            overlap = min(first + stay, b) - max(first, a)
            if overlap >= MIN_MEAL_OVERLAP and (meal is None or overlap > meal[0]):
                meal = (overlap, i, name)
    return [_Slot(s, e, (meal[2],) if meal and meal[1] == i else OTHER_ROLES) for i, (s, e) in enumerate(spans)]


# --- the pool ----------------------------------------------------------------------------------------------------
STAGES = ("catalogue", "window", "budget", "diet", "access")


def _lowest_budget(members: Sequence[Member]) -> tuple[float, int | None]:
    budgets = [(m.budget, i) for i, m in enumerate(members) if m.budget is not None]
    return min(budgets) if budgets else (math.inf, None)


def _first_failure(venue: Candidate, slot: _Slot, role: str, members: Sequence[Member], window: OutingWindow,
                   tag_names: set[str], budget: float, blame: dict[str, list[int]]) -> int:
    """Index in STAGES of the first check the (venue, slot, role) fails, len(STAGES) when it passes all.
    Members whose diet or access need rejected it are counted in `blame`."""
    if not (plannable(venue) and venue.lat is not None and venue.lon is not None and fits(venue, role, tag_names)):
        return 0
    if not open_during(venue, slot.start, slot.end, window.tz):
        return 1
    if cost_per_person(venue)[0] > budget:
        return 2
    if role in FOOD_ROLES:
        lacking = [i for i, m in enumerate(members) if any(not requirement_evidence(d, venue) for d in m.diet)]
        for i in lacking:
            blame["diet"][i] += 1
        if lacking:
            return 3
    lacking = [i for i, m in enumerate(members) if any(not requirement_evidence(a, venue) for a in m.access)]
    for i in lacking:
        blame["access"][i] += 1
    return 4 if lacking else len(STAGES)


def _count_distinct(per_slot: list[list[tuple[Candidate, str]]], cap: int = OPTIONS) -> int:
    """Distinct venue sets one venue per slot can make, counted up to `cap` (enough to know it is enough)."""
    seen: set[frozenset[str]] = set()
    for combo in itertools.product(*per_slot):
        ids = frozenset(v.id for v, _ in combo)
        if len(ids) == len(combo):
            seen.add(ids)
            if len(seen) >= cap:
                break
    return len(seen)


def _infeasible(stage: str, window: OutingWindow, members: Sequence[Member], blame: dict[str, list[int]],
                funnel: list[tuple[str, int]]) -> NotEnoughOptions:
    left = " → ".join(f"{name} {n}" for name, n in funnel)
    if stage == "catalogue":
        return NotEnoughOptions(f"fewer than {OPTIONS} plans: too few plannable, located venues fit an outing ({left})",
                                "venues", constraint=stage, funnel=funnel)
    if stage == "window":
        span = f"{window.start.astimezone(window.tz):%a %H:%M}-{window.end.astimezone(window.tz):%H:%M}"
        return NotEnoughOptions(f"fewer than {OPTIONS} plans: too few venues are open {span} ({left})", "window",
                                constraint=stage, funnel=funnel)
    if stage == "budget":
        budget, i = _lowest_budget(members)
        return NotEnoughOptions(f"fewer than {OPTIONS} plans fit the lowest budget, {budget:g} per person "
                                f"({members[i].user_id}) ({left})", f"members[{i}].budget",
                                constraint=stage, funnel=funnel)
    if stage in ("diet", "access"):
        counts = blame[stage]
        i = max(range(len(members)), key=lambda j: (counts[j], -j))
        needs = ", ".join(sorted(members[i].diet if stage == "diet" else members[i].access))
        where = "food stops" if stage == "diet" else "venues"
        return NotEnoughOptions(f"fewer than {OPTIONS} plans: too few {where} show evidence of {needs} for "
                                f"{members[i].user_id} ({left})", f"members[{i}].{stage}",
                                constraint=stage, funnel=funnel)
    if stage == "total_budget":
        budget, i = _lowest_budget(members)
        return NotEnoughOptions(f"fewer than {OPTIONS} plans: the stops together cost more than {budget:g} per "
                                f"person ({members[i].user_id})", f"members[{i}].budget",
                                constraint="budget", funnel=funnel)
    return NotEnoughOptions(f"fewer than {OPTIONS} plans: the open venues are more than {HOP_MIN} minutes apart "
                            f"({left})", "venues", constraint="distance", funnel=funnel)


# --- the spectrum ------------------------------------------------------------------------------------------------
def _validate(members: Sequence[Member], aggregation_name: str):
    if not members:
        raise InvalidRequest("a group needs members to plan an outing", "members")
    ids = [m.user_id for m in members]
    if len(set(ids)) != len(ids):
        raise InvalidRequest("each member appears once", "members")
    for i, m in enumerate(members):
        unknown = set(m.diet) - set(DIETS)
        if unknown:
            raise InvalidRequest(f"unknown diet {sorted(unknown)[0]!r}; known: {', '.join(sorted(DIETS))}",
                                 f"members[{i}].diet")
        unknown = set(m.access) - set(ACCESS)
        if unknown:
            raise InvalidRequest(f"unknown access need {sorted(unknown)[0]!r}; known: {', '.join(sorted(ACCESS))}",
                                 f"members[{i}].access")
        if m.budget is not None and m.budget < 0:
            raise InvalidRequest("a budget cannot be negative", f"members[{i}].budget")
    try:
        return group_aggregation(aggregation_name)
    except ValueError as exc:
        raise InvalidRequest(str(exc), "aggregation") from None


def _hops_ok(plan: Sequence[Candidate]) -> bool:
    return all(leg((a.lat, a.lon), (b.lat, b.lon))[1] <= HOP_MIN for a, b in zip(plan, plan[1:]))


def _key(c: tuple[Candidate, str]) -> tuple[str, str]:
    """A candidate is a venue in a role: scores and novelty depend on both."""
    return c[0].id, c[1]


def _shortlist(cands: list[tuple[Candidate, str]], mean_score: dict[tuple[str, str], float],
               novelty: dict[tuple[str, str], float]) -> list[tuple[Candidate, str]]:
    """The best, the least novel, the most novel and the cheapest candidates of a slot: the ends and the top of the
    spectrum, and what a tight budget can still combine (three good stops at 30 each do not fit 60)."""
    each = PER_SLOT // 4
    by_score = sorted(cands, key=lambda c: (-mean_score[_key(c)], c[0].id))
    by_familiar = sorted(cands, key=lambda c: (novelty[_key(c)], -mean_score[_key(c)], c[0].id))
    by_novel = sorted(cands, key=lambda c: (-novelty[_key(c)], -mean_score[_key(c)], c[0].id))
    by_cost = sorted(cands, key=lambda c: (cost_per_person(c[0])[0], -mean_score[_key(c)], c[0].id))
    keep = {c[0].id: c for c in by_score[:each] + by_familiar[:each] + by_novel[:each] + by_cost[:each]}
    return [keep[k] for k in sorted(keep)]


def _with_neighbours(short: list[tuple[Candidate, str]], before: list[tuple[Candidate, str]],
                     cands: list[tuple[Candidate, str]],
                     mean_score: dict[tuple[str, str], float]) -> list[tuple[Candidate, str]]:
    """Why: the best venues of two slots are often across town from each other, and a plan needs hops of at most
    HOP_MIN; without this a city's spread-out favourites leave fewer than five walkable plans."""
    keep = {c[0].id: c for c in short}
    ranked = sorted(cands, key=lambda c: (-mean_score[_key(c)], c[0].id))
    for prev, _ in before:
        near = [c for c in ranked if c[0].id != prev.id and _hops_ok([prev, c[0]])][:NEIGHBOURS]
        keep.update((c[0].id, c) for c in near)
    return [keep[k] for k in sorted(keep)]


def spectrum(venues: Sequence[Candidate], members: Sequence[Member], window: OutingWindow,
             history: GroupHistory = GroupHistory(), aggregation: str = "least_misery") -> list[Option]:
    """Exactly five options, safe first. Raises NotEnoughOptions (naming the constraint) when fewer are feasible.
    Deterministic: venues are considered in id order and every tie is broken by ids."""
    combiner = _validate(members, aggregation)
    venues = sorted(venues, key=lambda v: v.id)
    slots = plan_slots(window)
    tag_names = _tag_names(members)
    budget, _ = _lowest_budget(members)
    blame = {"diet": [0] * len(members), "access": [0] * len(members)}
    # (venue, role) candidates of each slot, with the stage each first fails
    outcomes = [[(v, role, _first_failure(v, slot, role, members, window, tag_names, budget, blame))
                 for v in venues for role in slot.roles] for slot in slots]
    funnel = [("venues", len(venues))]
    for k, stage in enumerate(STAGES):
        funnel.append((stage, len({v.id for per in outcomes for v, _r, f in per if f > k})))
    for k, stage in enumerate(STAGES):
        passing = [_first_role_per_venue([(v, r) for v, r, f in per if f > k]) for per in outcomes]
        if _count_distinct(passing) < OPTIONS:
            raise _infeasible(stage, window, members, blame, funnel)
    per_slot = [_first_role_per_venue([(v, r) for v, r, f in per if f == len(STAGES)]) for per in outcomes]

    pool = {_key(c): c for per in per_slot for c in per}
    raw_venue = {k: np.array([taste_score(m, v, role) for m in members]) for k, (v, role) in pool.items()}
    mean_score = {k: float(r.mean()) for k, r in raw_venue.items()}
    novelty_of = {k: stop_novelty(v, history, members, role) for k, (v, role) in pool.items()}
    short = [_shortlist(per, mean_score, novelty_of) for per in per_slot]
    for k in range(1, len(short)):  # and, for each venue before it, the slot's best venues within a hop of it
        short[k] = _with_neighbours(short[k], short[k - 1], per_slot[k], mean_score)

    plans, seen, over_budget = [], set(), 0
    for combo in itertools.product(*short):
        ids = frozenset(v.id for v, _ in combo)
        if len(ids) != len(combo) or ids in seen or not _hops_ok([v for v, _ in combo]):
            continue
        if sum(cost_per_person(v)[0] for v, _ in combo) > budget:
            over_budget += 1
            continue
        seen.add(ids)
        plans.append(combo)
    if len(plans) < OPTIONS:
        raise _infeasible("total_budget" if len(plans) + over_budget >= OPTIONS else "distance",
                          window, members, blame, funnel)

    # taste_score is already an absolute satisfaction in [0, 1], comparable across members: it is the utility.
    # (Rescaling per member, as shared.engine.group_ranking.to_utilities does for raw ranker scores, would make
    # every member's least favourite of these plans a 0 however much they like it.)
    utilities = np.array([[np.mean([raw_venue[_key(c)][m] for c in plan]) for plan in plans]
                          for m in range(len(members))])
    group = np.asarray(combiner.combine(utilities), dtype=float)
    if aggregation == "nash_welfare":  # shown as the geometric mean, a satisfaction in [0, 1] (the same order)
        group = np.exp(group / len(members))
    novelty = np.array([np.mean([novelty_of[_key(c)] for c in plan]) for plan in plans])
    keys = [tuple(sorted(v.id for v, _ in plan)) for plan in plans]

    order = sorted(range(len(plans)), key=lambda p: (novelty[p], -group[p], keys[p]))
    penalty = OVERLAP_PENALTY * (float(group.max() - group.min()) or 1.0)   # on the aggregation's own scale
    chosen: list[int] = []
    bands = [[int(p) for p in band] for band in np.array_split(np.array(order), OPTIONS)]
    for b, band in enumerate(bands):
        used = {vid for c in chosen for vid in keys[c]}

        def value(p: int) -> tuple:  # a venue another option already has makes the options look alike: avoid
            overlap = len(used.intersection(keys[p])) / len(keys[p])  # it first, then take the best group score
            return (overlap > 0, -(group[p] - penalty * overlap), novelty[p], keys[p])
        fresh = [p for p in band if not used.intersection(keys[p])]
        if not fresh:  # every plan of this band repeats a venue: look further along the spectrum, never back
            fresh = [p for later in bands[b + 1:] for p in later if not used.intersection(keys[p])]
        rest = ([p for later in bands[b:] for p in later if p not in chosen]    # never the same plan twice
                or [p for every in bands for p in every if p not in chosen])
        chosen.append(min(fresh or rest, key=value))
    chosen.sort(key=lambda p: (novelty[p], keys[p]))   # a plan taken from further along keeps the order

    return [_option(rank, plans[p], slots, members, window, float(novelty[p]), float(group[p]), aggregation,
                    member_satisfaction(utilities, p))
            for rank, p in enumerate(chosen)]


def _first_role_per_venue(cands: list[tuple[Candidate, str]]) -> list[tuple[Candidate, str]]:
    """One role per venue in a slot (the first it fits, in the slot's role order): a venue is one candidate."""
    out, seen = [], set()
    for v, role in cands:
        if v.id not in seen:
            seen.add(v.id)
            out.append((v, role))
    return out


def _option(rank: int, plan, slots: list[_Slot], members: Sequence[Member], window: OutingWindow, novelty: float,
            group_score: float, aggregation: str, satisfaction) -> Option:
    stops = tuple(Stop(v.id, v.name, role, slot.start.astimezone(window.tz), slot.end.astimezone(window.tz),
                       cost_per_person(v)[0], effective_type(v), area_of(v), float(v.lat), float(v.lon),
                       v.extra.get("address"), schedule(v).source)
                  for (v, role), slot in zip(plan, slots))
    venues = {v.id: v for v, _ in plan}
    return Option(rank=rank, label=LABELS[rank], stops=stops, cost_per_person=sum(s.cost_per_person for s in stops),
                  novelty=novelty, group_score=group_score, aggregation=aggregation,
                  satisfaction={m.user_id: float(s) for m, s in zip(members, np.asarray(satisfaction, dtype=float))},
                  explanations={m.user_id: explain(m, stops, venues) for m in members})


# --- explanations ------------------------------------------------------------------------------------------------
def _diet_claim(diet: str) -> str:
    return f"serves {diet.replace('_', '-')}"


def _access_claim(need: str) -> str:
    return need.replace("_", "-") + " access"


def _budget_claim(total: float, budget: float) -> str:
    return f"about {total:g} per person, within your budget of {budget:g}"


def _cost_evidence(stops: Sequence[Stop], venues: Mapping[str, Candidate]) -> str:
    return "+".join(cost_per_person(venues[s.venue_id])[1] for s in stops)


def explain(member: Member, stops: Sequence[Stop], venues: Mapping[str, Candidate]) -> tuple[Claim, ...]:
    """Why this plan works for this member, each claim with the venue data behind it."""
    claims: list[Claim] = []
    for stop in stops:
        venue = venues[stop.venue_id]
        for key, weight in sorted(member.preferences.items(), key=lambda kw: (-kw[1], kw[0])):
            ev = taste_evidence(key, venue, stop.role) if weight > 0 else None
            if ev:
                claims.append(Claim(member.user_id, venue.id, "taste", key, f"fits your taste for {key}", ev))
        if stop.is_food:
            for diet in sorted(member.diet):
                claims.append(Claim(member.user_id, venue.id, "diet", diet, _diet_claim(diet),
                                    requirement_evidence(diet, venue)[0]))
        for need in sorted(member.access):
            claims.append(Claim(member.user_id, venue.id, "access", need, _access_claim(need),
                                requirement_evidence(need, venue)[0]))
    if member.budget is not None:
        total = sum(s.cost_per_person for s in stops)
        claims.append(Claim(member.user_id, None, "budget", "total", _budget_claim(total, member.budget),
                            _cost_evidence(stops, venues)))
    return tuple(claims)


# --- the release gate's check ------------------------------------------------------------------------------------
def check_option(option: Option, members: Sequence[Member], venues_by_id: Mapping[str, Candidate],
                 window: OutingWindow) -> list[str]:
    """Every constraint the option breaks and every claim the venue data does not support; empty means it may
    be shown. Recomputed from the venues, never from what the option says about itself."""
    problems: list[str] = []
    if not 1 <= len(option.stops) <= 3:
        problems.append(f"a plan has 1 to 3 stops, not {len(option.stops)}")
    venues: dict[str, Candidate] = {}
    previous_end = window.start
    for i, stop in enumerate(option.stops):
        where = f"stop {i} ({stop.venue_id})"
        venue = venues_by_id.get(stop.venue_id)
        if venue is None:
            problems.append(f"{where}: not in the catalogue")
            continue
        venues[venue.id] = venue
        if not (plannable(venue) and venue.lat is not None and venue.lon is not None):
            problems.append(f"{where}: not a plannable, located venue")
        if stop.role not in FOOD_ROLES | set(OTHER_ROLES) or not fits(venue, stop.role, _tag_names(members)):
            problems.append(f"{where}: a {effective_type(venue)} cannot be a {stop.role} stop")
        if stop.start < previous_end or stop.end <= stop.start or stop.end > window.end:
            problems.append(f"{where}: {stop.start:%H:%M}-{stop.end:%H:%M} is not inside the window after the "
                            "previous stop")
        previous_end = max(previous_end, stop.end)
        if not open_during(venue, stop.start, stop.end, window.tz):
            problems.append(f"{where}: closed {stop.start.astimezone(window.tz):%a %H:%M}-"
                            f"{stop.end.astimezone(window.tz):%H:%M}")
        if stop.role in FOOD_ROLES:
            for m in members:
                for diet in sorted(m.diet):
                    if not requirement_evidence(diet, venue):
                        problems.append(f"{where}: no evidence it is {diet} for {m.user_id}")
        for m in members:
            for need in sorted(m.access):
                if not requirement_evidence(need, venue):
                    problems.append(f"{where}: no evidence of {need} access for {m.user_id}")
    located = [venues[s.venue_id] for s in option.stops if s.venue_id in venues]
    if len(located) == len(option.stops) and not _hops_ok(located):
        problems.append(f"stops are more than {HOP_MIN} minutes apart")
    if len(set(option.venue_ids)) != len(option.stops):
        problems.append("a venue appears twice")
    total = sum(cost_per_person(v)[0] for v in located)
    if abs(total - option.cost_per_person) > 0.005:
        problems.append(f"cost per person is {total:g}, not {option.cost_per_person:g}")
    for m in members:
        if m.budget is not None and total > m.budget:
            problems.append(f"costs {total:g} per person, over {m.user_id}'s budget of {m.budget:g}")
    problems += _check_claims(option, members, venues)
    return problems


def unfaithful_claims(option: Option, members: Sequence[Member], venues_by_id: Mapping[str, Candidate]) -> list[str]:
    """The explanation problems alone (claims the data does not support, requirements left unexplained): what a
    release gate counts as faithfulness, apart from the plan's constraints."""
    return _check_claims(option, members, {vid: venues_by_id[vid] for vid in option.venue_ids if vid in venues_by_id})


def _check_claims(option: Option, members: Sequence[Member], venues: Mapping[str, Candidate]) -> list[str]:
    problems: list[str] = []
    by_id = {m.user_id: m for m in members}
    stops = {s.venue_id: s for s in option.stops}
    for uid in option.explanations:
        if uid not in by_id:
            problems.append(f"explanation for {uid}, who is not a member")
    for m in members:
        claims = option.explanations.get(m.user_id, ())
        for c in claims:
            problems += _check_claim(c, m, stops, venues, option)
        for s in option.stops:  # every requirement the member has is explained at every stop it applies to
            needs = (sorted(m.diet) if s.is_food else []) + sorted(m.access)
            for need in needs:
                if not any(c.venue_id == s.venue_id and c.subject == need for c in claims):
                    problems.append(f"{m.user_id}: no claim explains {need} at {s.venue_id}")
    return problems


def _check_claim(c: Claim, member: Member, stops: Mapping[str, Stop], venues: Mapping[str, Candidate],
                 option: Option) -> list[str]:
    said = f"{member.user_id}: claim {c.claim!r} ({c.evidence})"
    if c.member != member.user_id:
        return [f"{said} is filed under another member"]
    if c.kind == "budget":
        known = [venues[s.venue_id] for s in option.stops if s.venue_id in venues]
        total = sum(cost_per_person(v)[0] for v in known)
        expected = _budget_claim(total, member.budget) if member.budget is not None else None
        if c.claim != expected or c.evidence != "+".join(cost_per_person(v)[1] for v in known):
            return [f"{said} does not match the venues' prices"]
        return [] if total <= member.budget else [f"{said}: over budget"]
    if c.venue_id not in stops or c.venue_id not in venues:
        return [f"{said} is about a venue that is not in the plan"]
    venue = venues[c.venue_id]
    if c.kind == "taste":
        ok = (member.preferences.get(c.subject, 0) > 0 and c.claim == f"fits your taste for {c.subject}"
              and taste_evidence(c.subject, venue, stops[c.venue_id].role) == c.evidence)
    elif c.kind == "diet":
        ok = (c.subject in member.diet and stops[c.venue_id].is_food and c.claim == _diet_claim(c.subject)
              and c.evidence in requirement_evidence(c.subject, venue))
    elif c.kind == "access":
        ok = (c.subject in member.access and c.claim == _access_claim(c.subject)
              and c.evidence in requirement_evidence(c.subject, venue))
    else:
        ok = False
    return [] if ok else [f"{said} is not supported by {c.venue_id}'s data"]

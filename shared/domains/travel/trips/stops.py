"""Which venue may fill which stop of a day, and when it can be visited on a given date.

The catalogue classified every venue at seeding (a venue type, event or service, a season, plannable or
not, structured opening hours). Here that becomes planning rules:
- meals go to restaurants (lunch also to a café that serves food), breakfast to cafés and bakeries, the
  night stop to bars, pubs, clubs, live music and theatres; visits go to sights and activities, and shops
  only when the traveller asked for shopping (a baby-clothes shop is not a sight);
- services and non-plannable records are never planned; events only inside their season;
- a venue is planned only inside its opening hours on that date: its listed schedule when it parsed, else
  the typical hours of its type (and the slot says which).
"""
from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache

from shared.engine.serving.types import Candidate

VISIT_TYPES = {"museum", "gallery", "landmark", "religious", "palace", "park", "garden", "beach", "viewpoint",
               "nature", "zoo_aquarium", "market", "neighbourhood", "tour", "activity", "spa", "sports", "event"}
SHOP_TYPES = {"shop": {"shopping", "markets"}, "bookshop": {"books", "shopping"}}
NIGHT_TYPES = {"bar", "pub", "wine_bar", "club", "brewery", "live_music", "theatre"}
BAR_TYPES = {"bar", "pub", "wine_bar", "club", "brewery"}
KIND_TYPES = {"breakfast": {"cafe", "bakery"}, "lunch": {"restaurant", "cafe"}, "dinner": {"restaurant"},
              "treat": {"dessert", "bakery", "cafe"},
              "night": NIGHT_TYPES}
BREAK_TYPES = {"park", "garden", "viewpoint", "neighbourhood", "market", "beach", "landmark", "religious"}
OUTDOOR_TYPES = {"park", "garden", "beach", "viewpoint", "nature"}
CAFE_WORDS = ("coffee", "espresso", "café", "cafe", "tea")


def effective_type(c: Candidate) -> str:
    """The catalogue's venue type; for rows seeded before types existed, a conservative guess from the category."""
    vt = c.extra.get("venue_type")
    if vt:
        return vt
    cat, tags, text = c.category, set(c.tags), c.extra.get("text") or c.name.lower()
    if cat in ("food", "eat"):
        return "cafe" if "coffee" in tags else "restaurant"
    if cat in ("drink",):
        return "cafe" if ("coffee" in tags or any(w in text for w in CAFE_WORDS)) else "bar"
    if cat in ("shopping", "buy"):
        return "market" if "market" in tags else "shop"
    if cat in ("lodging", "sleep"):
        return "lodging"
    if "museum" in tags:
        return "museum"
    return "activity" if cat in ("activity", "do") else "landmark"


def plannable(c: Candidate) -> bool:
    return c.extra.get("plannable", True) and c.extra.get("visit_kind", "venue") != "service"


def in_season(c: Candidate, date: dt.date) -> bool:
    if c.extra.get("visit_kind") != "event":
        return True
    months = c.extra.get("season_months")
    return bool(months) and date.month in months


def fits(c: Candidate, kind: str, tag_names: set[str]) -> bool:
    """Can this venue fill a stop of this kind, for a traveller with these tags?"""
    vt = effective_type(c)
    if kind == "break":  # somewhere to drop into between two stops; anything a visit may be when it matches
        kind = "visit"
    if kind == "visit":
        if vt in SHOP_TYPES:
            return bool(SHOP_TYPES[vt] & tag_names)
        return vt in VISIT_TYPES
    if kind == "lunch" and vt == "cafe":
        return c.category in ("food", "eat")
    if kind == "night" and vt == "theatre":
        return bool({"theatre", "live_music"} & tag_names)
    return vt in KIND_TYPES[kind]


def is_outdoor(c: Candidate) -> bool:
    return effective_type(c) in OUTDOOR_TYPES


@lru_cache(maxsize=16384)
def _listed(opening_json: str):
    from shared.domains.travel.catalogue.hours import Schedule

    return Schedule.from_json(json.loads(opening_json))


@lru_cache(maxsize=256)
def _typical(venue_type: str, category: str):
    from shared.domains.travel.catalogue.hours import typical

    return typical(venue_type, category)


def schedule(c: Candidate):
    """The venue's listed schedule when its hours parsed, else the typical one for its type (source says which)."""
    opening = c.extra.get("opening")
    if opening:
        return _listed(opening if isinstance(opening, str) else json.dumps(opening, sort_keys=True))
    return _typical(effective_type(c), c.category or "")


def arrival_window(c: Candidate, date: dt.date, earliest: int, latest: int, stay: int) -> tuple[int, int] | None:
    """The earliest open span [first, last] of arrival minutes within [earliest, latest] such that a visit of
    `stay` minutes fits inside one opening of that date; None when the venue cannot be visited then."""
    best = None
    for start, end in schedule(c).ranges_on(date):
        lo, hi = max(earliest, start), min(latest, end - stay)
        if lo <= hi and (best is None or hi - lo > best[1] - best[0]):
            best = (lo, hi)
    return best


def open_range_at(c: Candidate, date: dt.date, minute: int) -> tuple[int, int] | None:
    for start, end in schedule(c).ranges_on(date):
        if start <= minute < end:
            return start, end
    return None

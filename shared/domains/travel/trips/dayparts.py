"""Which venues suit which part of the day, and whether opening hours allow a visit.

Fit is from the venue's category and vibe tags: coffee, bakeries and sights by day, dinner and bars at
night. Hours are free text in the catalogue ("Daily 10AM-6PM", "M-Sa 11am-2am", "8AM to Midnight");
when a time range parses we require it to overlap the day part by at least an hour, when it does not
we assume open (the narrative never claims hours it could not read).
"""
from __future__ import annotations

import re
from functools import lru_cache

DAY_PART_WINDOWS = {"morning": (8.0, 12.0), "afternoon": (12.0, 17.0), "evening": (17.0, 23.0)}
DAY_PARTS = tuple(DAY_PART_WINDOWS)

# vibe-taxonomy ids (catalogue) that decide day-part fit beyond the category
MORNING = {"coffee", "breakfast-brunch", "sweets", "market"}
SIGHTS = {"museum", "art", "outdoors", "nature", "scenic", "waterfront", "architecture", "historic", "iconic",
          "market", "shopping", "learning", "family", "active", "hidden-gem"}
NIGHT = {"nightlife", "cocktails", "craft-beer", "wine", "live-music", "performing-arts", "late-night", "happy-hour",
         "dive", "lgbtq-friendly"}
DINNER = {"global-cuisine", "fine-dining", "seafood", "street-food", "hole-in-the-wall", "splurge", "upscale",
          "romantic", "groups", "late-night", "date-night"}
OUTDOOR = {"outdoors", "nature", "active"}
INDOOR = {"rainy-day", "museum"}

CATEGORY_FIT = {
    # the catalogue's canonical categories
    "sight": {"morning": 0.9, "afternoon": 1.0, "evening": 0.2},
    "activity": {"morning": 0.7, "afternoon": 1.0, "evening": 0.5},
    "shopping": {"morning": 0.5, "afternoon": 0.9, "evening": 0.2},
    "food": {"morning": 0.4, "afternoon": 0.7, "evening": 1.0},
    "drink": {"morning": 0.0, "afternoon": 0.3, "evening": 1.0},
    "lodging": {"morning": 0.0, "afternoon": 0.0, "evening": 0.0},
    # wikivoyage's raw ones, for unnormalised sources
    "see": {"morning": 0.9, "afternoon": 1.0, "evening": 0.2},
    "do": {"morning": 0.7, "afternoon": 1.0, "evening": 0.5},
    "buy": {"morning": 0.5, "afternoon": 0.9, "evening": 0.2},
    "eat": {"morning": 0.4, "afternoon": 0.7, "evening": 1.0},
    "sleep": {"morning": 0.0, "afternoon": 0.0, "evening": 0.0},
    "other": {"morning": 0.2, "afternoon": 0.3, "evening": 0.2},
}
MIN_FIT = 0.35


def _norm_tags(tags) -> set[str]:
    return {str(t).lower() for t in tags or ()}


def day_part_fit(category: str | None, tags, day_part: str) -> float:
    return _fit(category, tuple(tags or ()), day_part)


@lru_cache(maxsize=8192)
def _fit(category: str | None, tags: tuple, day_part: str) -> float:
    """0..1: how well a venue suits a day part. Bars score 0 in the morning whatever else they are."""
    t = _norm_tags(tags)
    cat = (category or "").lower()
    fit = CATEGORY_FIT.get(cat, {"morning": 0.5, "afternoon": 0.6, "evening": 0.5})[day_part]
    if fit == 0.0 and cat in {"lodging", "sleep"}:
        return 0.0  # hotels are not itinerary stops
    is_morning_food = bool(t & MORNING)
    is_night = bool(t & NIGHT) or (cat == "drink" and not is_morning_food)
    is_sight = bool(t & SIGHTS) or cat in {"sight", "see"}
    if day_part == "morning":
        if is_night and not is_morning_food:
            return 0.0
        if is_morning_food:
            fit = max(fit, 1.0)
        elif is_sight:
            fit = max(fit, 0.8)
    elif day_part == "afternoon":
        if is_sight:
            fit = max(fit, 1.0)
        if is_night and not is_morning_food and not is_sight:
            fit = min(fit, 0.3)
    else:  # evening
        if is_night:
            fit = max(fit, 1.0)
        elif is_morning_food and not (cat in {"food", "eat"} and t & DINNER):
            fit = min(fit, 0.2)  # a coffee shop or a brunch place is not an evening out
        elif t & OUTDOOR:
            fit = min(fit, 0.3)
    return float(fit)


def is_outdoor(category: str | None, tags) -> bool:
    t = _norm_tags(tags)
    return bool(t & OUTDOOR) and not (t & INDOOR)


_TIME = r"(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?|noon|midnight"
_RANGE = re.compile(rf"(?P<a>{_TIME})\s*(?:-|–|to|until)\s*(?P<b>{_TIME})", re.IGNORECASE)


def _to_hour(text: str, default_pm: bool) -> float | None:
    s = text.strip().lower().replace(".", "")
    if s == "noon":
        return 12.0
    if s == "midnight":
        return 24.0
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?", s)
    if not m:
        return None
    h = int(m.group(1))
    minutes = int(m.group(2) or 0)
    if h > 24 or minutes > 59:
        return None
    ampm = m.group(3)
    if ampm == "pm" and h < 12:
        h += 12
    elif ampm == "am" and h == 12:
        h = 0
    elif ampm is None and default_pm and h < 12:
        h += 12
    return h + minutes / 60.0


@lru_cache(maxsize=8192)
def parse_hours(hours: str | None) -> tuple[float, float] | None:
    """(open, close) in hours of day, close may exceed 24 for after-midnight; None when not parseable."""
    if not hours:
        return None
    text = hours.lower()
    if "24 hours" in text or "24/7" in text or "24h" in text:
        return (0.0, 24.0)
    m = _RANGE.search(hours)
    if not m:
        return None
    a = _to_hour(m.group("a"), default_pm=False)
    b = _to_hour(m.group("b"), default_pm=True)
    if a is None or b is None:
        return None
    if b <= a:
        b += 24.0  # closes after midnight
    if b - a < 0.5:
        return None
    return (a, b)


@lru_cache(maxsize=16384)
def open_during(hours: str | None, day_part: str, min_overlap_h: float = 1.0) -> bool:
    span = parse_hours(hours)
    if span is None:
        return True
    lo, hi = DAY_PART_WINDOWS[day_part]
    overlap = min(hi, span[1]) - max(lo, span[0])
    return overlap >= min_overlap_h


def visit_window(hours: str | None, day_part: str) -> tuple[float, float]:
    """When in this day part a visit can start: the day part's window, narrowed to the venue's listed
    hours when they parse (a bar that opens at 18:00 is not planned for 17:00)."""
    lo, hi = DAY_PART_WINDOWS[day_part]
    span = parse_hours(hours)
    if span is None:
        return lo, hi
    start, end = max(lo, span[0]), min(hi, span[1])
    return (start, end) if end > start else (lo, hi)

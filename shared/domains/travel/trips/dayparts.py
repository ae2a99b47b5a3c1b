"""Which venues suit which part of the day: the fit that weights an archetype's ranking per day part.

Fit is from the venue's category and vibe tags: coffee, bakeries and sights by day, dinner and bars at
night. Whether a venue is open is a question of the date and the venue's structured schedule, answered at
assembly (stops.py), not here.
"""
from __future__ import annotations

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

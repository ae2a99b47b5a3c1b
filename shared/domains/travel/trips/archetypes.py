"""Three persona archetypes: the unit of the ranked-result cache.

A cache keyed by individual personas would almost never hit; keyed by three archetypes it is warmed
once per city (45 combinations: 3 archetypes × 3 day parts × 5 trip days) and every user lands on one.
What is cached is a function of the archetype only (it is ranked for the archetype's canonical
persona); each user's own tags and user-tower vector re-weight that list at assembly time, which is
arithmetic, not a ranker call.
"""
from __future__ import annotations

from shared.domains.travel.trips.tags import CULTURE_LEANING, FOOD_LEANING, OUTDOOR_LEANING, Tags

ARCHETYPES: dict[str, Tags] = {
    "foodie": Tags(food=("coffee", "bakery", "seafood", "ramen", "street_food", "beer", "cocktails"), vibe=("local",)),
    "outdoors": Tags(interests=("parks", "hiking", "waterfront", "views", "gardens"), food=("coffee",), vibe=("adventurous",)),
    "culture": Tags(interests=("museums", "art", "history", "architecture", "markets", "live_music"), vibe=("classic",)),
}
ARCHETYPE_NAMES = list(ARCHETYPES)


def assign_archetype(tags: Tags) -> str:
    """The archetype whose leaning set the tags hit most; ties go in the fixed order above, and a user
    with no tags is a generalist ('culture': sights and markets suit most first visits)."""
    all_tags = set(tags.all)
    counts = {
        "foodie": len(all_tags & FOOD_LEANING),
        "outdoors": len(all_tags & OUTDOOR_LEANING),
        "culture": len(all_tags & CULTURE_LEANING),
    }
    best = max(counts.values())
    if best == 0:
        return "culture"
    return next(name for name in ARCHETYPE_NAMES if counts[name] == best)

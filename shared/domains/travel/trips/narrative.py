"""Slot narratives that state only facts from the catalogue: the venue's category, its vibe tags,
hours and price as recorded, the planned arrival, which of the traveller's tags it matches and whose
preferences it serves. A template rather than an LLM: it cannot invent, and it costs nothing per slot."""
from __future__ import annotations

CATEGORY_WORDS = {"sight": "a sight", "activity": "an activity", "food": "a place to eat",
                  "drink": "a place for a drink", "shopping": "a place to shop",
                  # wikivoyage's raw sections, for unnormalised sources
                  "see": "a sight", "do": "an activity", "eat": "a place to eat", "buy": "a place to shop",
                  "other": "a stop"}


def template_narrative(venue: dict, day_part: str, arrive: str | None = None, serves_names: list[str] | None = None,
                       matched: list[str] | None = None) -> str:
    kind = CATEGORY_WORDS.get((venue.get("category") or "").lower(), "a stop")
    parts = [f"{venue['name']} is {kind} for your {day_part}"]
    if arrive:
        parts[0] += f", planned around {arrive}"
    parts[0] += "."
    tags = [t.replace("_", " ") for t in (venue.get("tags") or [])][:4]
    if matched:
        parts.append("It matches your interest in " + ", ".join(m.replace("_", " ") for m in matched[:3]) + ".")
    elif tags:
        parts.append("Known for: " + ", ".join(tags) + ".")
    if venue.get("hours"):
        parts.append(f"Listed hours: {venue['hours']}.")
    if venue.get("price_level"):
        parts.append("Price: " + "$" * int(venue["price_level"]) + ".")
    if serves_names and len(serves_names) > 0:
        parts.append("Chosen for " + ", ".join(serves_names) + ".")
    return " ".join(parts)

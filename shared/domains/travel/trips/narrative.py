"""Slot narratives that state only facts from the catalogue: the venue's category, its vibe tags,
hours and price as recorded, the planned arrival and whose preferences it serves. The template never
invents; the LLM path (when a key is set) is given only the same facts and a strict instruction, and
any failure falls back to the template."""
from __future__ import annotations

CATEGORY_WORDS = {"see": "a sight", "do": "an activity", "eat": "a place to eat", "drink": "a place for a drink",
                  "buy": "a shop", "other": "a stop"}


def template_narrative(venue: dict, day_part: str, arrive: str | None = None, serves_names: list[str] | None = None,
                       matched: list[str] | None = None) -> str:
    kind = CATEGORY_WORDS.get((venue.get("category") or "").lower(), venue.get("category") or "a stop")
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

"""Evidence that a venue matches a traveller's tag, and which tags apply to which stop.

One definition serves three readers: assembly (a stop the tags apply to is chosen among venues with
evidence when there are any), the narrative (it may say "for your interest in X" only with evidence, and
names it) and the itinerary benchmark (tag match rate). Evidence is a vibe-taxonomy term of the tag among
the venue's tags, or one of the tag's keywords in the venue's name or description.

Tags apply by stop: food tags to meals, interests and vibe to visits, coffee and bakery tags to breakfast,
dessert to the afternoon treat, drinking and nightlife tags to the night stop, none to a break. A taste for
cocktails says nothing about lunch.
"""
from __future__ import annotations

from shared.domains.travel.trips.daymodel import BREAKFAST_TAGS, NIGHT_TAGS, TREAT_TAGS
from shared.domains.travel.trips.tags import FOOD, INTERESTS, VIBE, Tags
from shared.engine.serving.types import Candidate

VOCAB = {**FOOD, **INTERESTS, **VIBE}
# Taxonomy terms that map a dish or cuisine to its nearest vibe (FOOD in tags.py, for retrieval) but say
# nothing about the dish: a "global-cuisine" Korean barbecue is no evidence for "italian". For food tags
# only the specific terms (seafood, coffee, craft-beer, ...) or a keyword in the text count.
GENERIC_FOOD_TERMS = frozenset({"global-cuisine", "casual", "hole-in-the-wall", "groups", "good-value", "cozy",
                                "quiet", "nightlife"})


def applicable_tags(tags: Tags, kind: str) -> tuple[str, ...]:
    if kind == "break":  # a break is chosen for being near and open, not for the traveller's tags
        return ()
    if kind == "night":
        return tuple(t for t in tags.all if t in NIGHT_TAGS)
    if kind == "breakfast":
        return tuple(t for t in tags.food if t in BREAKFAST_TAGS)
    if kind == "treat":
        return tuple(t for t in tags.food if t in TREAT_TAGS)
    if kind in ("lunch", "dinner"):  # a taste for coffee says where to start the day, not where to have lunch
        own_stop = NIGHT_TAGS | BREAKFAST_TAGS | TREAT_TAGS
        return tuple(t for t in tags.food if t not in own_stop)
    return tuple(t for t in tags.interests + tags.vibe if t not in NIGHT_TAGS)


def evidence_for(tag: str, venue_tags, text: str) -> str | None:
    """'tag:<term>' or 'text:<keyword>' when the venue carries evidence for `tag`, else None."""
    terms, keywords = VOCAB[tag]
    have = set(venue_tags)
    for term in terms:
        if term in have and not (tag in FOOD and term in GENERIC_FOOD_TERMS):
            return f"tag:{term}"
    for kw in keywords:
        if kw in text:
            return f"text:{kw}"
    return None


def evidence_query(tags: Tags) -> tuple[list[str], list[str]]:
    """(taxonomy terms, keywords) that are evidence for the traveller's food and interest tags, for fetching the
    venues that carry it (venues.fetch_tag_candidates). Vibe tags are left out: they describe a feel that a
    large share of any city has, so the ranked pool already holds venues with it."""
    terms, keywords = [], []
    for tag in tags.food + tags.interests:
        tag_terms, tag_keywords = VOCAB[tag]
        terms += [t for t in tag_terms if not (tag in FOOD and t in GENERIC_FOOD_TERMS)]
        keywords += list(tag_keywords)
    return sorted(set(terms)), sorted(set(keywords))


def venue_text(name: str, description: str | None) -> str:
    return f"{name} {description or ''}".lower()


def tag_evidence(c: Candidate, wanted: tuple[str, ...]) -> list[tuple[str, str]]:
    text = venue_text(c.name, c.extra.get("description"))
    out = []
    for tag in wanted:
        ev = evidence_for(tag, c.tags, text)
        if ev:
            out.append((tag, ev))
    return out

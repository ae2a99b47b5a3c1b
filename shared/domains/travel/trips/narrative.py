"""Slot narratives made of claims, each of which can be checked against the catalogue.

A narrative is the rendering of a list of claims, and nothing else: what the stop is and when (a lunch at a
restaurant around 12:30), why (the traveller's tag and the evidence for it, a landmark, the local dinner
hour), how far it is from the previous stop, what the guide says (whole sentences of the venue's own
description, never cut mid-word) and its listed hours (or that they were assumed). `check_claims` re-derives
every claim from the slot, the catalogue row and the previous slot, and re-renders the text, so a narrative
that says anything the data does not support is reported. Faithfulness is therefore 1.0 by construction,
and any other narrator (an LLM one) would be held to the same check.

Wording varies between slots (a deterministic choice per slot, recorded in the claim), so a trip does not
read like one sentence repeated.
"""
from __future__ import annotations

import hashlib
import json
import re

from shared.domains.travel.trips.daymodel import local_times, minutes
from shared.domains.travel.trips.evidence import evidence_for, venue_text

QUOTE_MAX = 220
_ORDINAL_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TYPE_WORDS = {
    "museum": "a museum", "gallery": "a gallery", "landmark": "a landmark", "religious": "a place of worship",
    "palace": "a palace", "park": "a park", "garden": "a garden", "beach": "a beach", "viewpoint": "a viewpoint",
    "nature": "a place for a walk outdoors", "zoo_aquarium": "a zoo or aquarium", "market": "a market",
    "neighbourhood": "a neighbourhood to stroll", "tour": "a tour", "theatre": "a theatre", "live_music": "a live-music venue",
    "cinema": "a cinema", "sports": "a sports venue", "activity": "an activity", "spa": "a spa", "shop": "a shop",
    "bookshop": "a bookshop", "restaurant": "a restaurant", "cafe": "a café", "bakery": "a bakery",
    "dessert": "a dessert place", "bar": "a bar", "pub": "a pub", "wine_bar": "a wine bar", "club": "a club",
    "brewery": "a brewery", "event": "an event",
}
KIND_OPENERS = {
    "breakfast": ["Start the day at {name}, {what}, around {at}.", "Breakfast at {name}, {what}, from {at}."],
    "visit": ["{name} is {what}; arrive around {at}.", "Around {at}: {name}, {what}.", "Next, {name} ({what}) at {at}."],
    "lunch": ["Lunch at {name}, {what}, around {at}.", "At {at}, lunch at {name} ({what})."],
    "dinner": ["Dinner at {name}, {what}, at {at}.", "At {at}, dinner at {name} ({what})."],
    "night": ["After dinner, {name} ({what}) from {at}.", "End the evening at {name}, {what}, around {at}."],
    "treat": ["Time for something sweet: {name}, {what}, around {at}.", "An afternoon treat at {name} ({what}), {at}."],
    "break": ["On the way, a break at {name} ({what}) around {at}.", "Time for a stroll: {name}, {what}, at {at}."],
}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _variant(seed: str, n: int) -> int:
    return int(hashlib.blake2b(seed.encode(), digest_size=2).hexdigest(), 16) % n


def whole_sentences(text: str | None, limit: int = QUOTE_MAX) -> str | None:
    """As many whole sentences of `text` as fit in `limit` characters (at least one sentence if the first
    one is short enough), or None: a quote is never cut mid-sentence."""
    if not text:
        return None
    text = " ".join(text.split())
    out = ""
    for sentence in _SENTENCE_END.split(text):
        if not sentence.endswith((".", "!", "?")):
            break
        candidate = f"{out} {sentence}".strip()
        if len(candidate) > limit:
            break
        out = candidate
    return out or None


def _tag_words(tag: str) -> str:
    return tag.replace("_", " ")


def _evidence_words(ev: str) -> str:
    source, value = ev.split(":", 1)
    return f"tagged {value.replace('-', ' ')}" if source == "tag" else f"its description mentions “{value}”"


def render(claim: dict, name: str) -> str:
    t = claim["type"]
    if t == "stop":
        what = TYPE_WORDS.get(claim["venue_type"], "a stop")
        return KIND_OPENERS[claim["kind"]][claim["v"]].format(name=name, what=what, at=claim["arrive"])
    if t == "local_hour":
        a, b = claim["window"]
        return f"Locals sit down for {claim['meal']} between {a} and {b}."
    if t == "matches":
        return f"Picked for your interest in {_tag_words(claim['tag'])}: {_evidence_words(claim['evidence'])}."
    if t == "landmark":
        return "It is one of the city's landmarks, worth it on a first visit."
    if t == "quote":
        return f"The guide says: “{claim['text']}”"
    if t == "leg":
        km = f"{claim['km']:.1f} km"
        if claim["mode"] == "walk":
            if claim["minutes"] == 0:
                return f"It is right next to {claim['from']}."
            article = "An" if str(claim["minutes"]).startswith(("8", "11", "18")) else "A"
            return f"{article} {claim['minutes']}-minute walk ({km}) from {claim['from']}."
        return f"About {claim['minutes']} minutes by transit ({km}) from {claim['from']}."
    if t == "hours":
        return f"Listed hours: {claim['listed'].rstrip('. ')}."
    if t == "monthly":
        days = " and the ".join(f"{_ORDINAL_WORDS[n]} {_WEEKDAY_NAMES[wd]}" for n, wd in claim["rules"])
        return (f"It happens on the {days} of the month only; the plan assumes the usual hours of "
                f"{TYPE_WORDS.get(claim['venue_type'], 'such a place')} that day.")
    if t == "hours_assumed":
        return f"Its hours are not listed, so the plan assumes the usual hours of {TYPE_WORDS.get(claim['venue_type'], 'such a place')}."
    if t == "season":
        return "It takes place in " + ", ".join(MONTHS[m - 1] for m in claim["months"]) + "."
    if t == "serves":
        return "Chosen for " + ", ".join(claim["users"]) + "."
    raise ValueError(f"unknown claim type {t!r}")


def render_all(claims: list[dict], name: str) -> str:
    return " ".join(render(c, name) for c in claims)


def claims_for(slot: dict, previous: dict | None, matched: list[tuple[str, str]], city_id: str,
               group: bool = False) -> list[dict]:
    """The claims of one slot. `slot` has kind, arrive, venue (snapshot), serves, id; `previous` is the
    previous slot of the same day (or None)."""
    v = slot["venue"]
    kind = slot.get("kind") or "visit"
    seed = f"{slot.get('id', '')}|{v['id']}"
    claims: list[dict] = [{"type": "stop", "kind": kind, "arrive": slot["arrive"], "venue_type": v.get("venue_type"),
                           "v": _variant(seed, len(KIND_OPENERS[kind]))}]
    if kind in ("lunch", "dinner"):
        claims.append({"type": "local_hour", "meal": kind, "window": local_times(city_id).windows()[kind]})
    for tag, ev in matched[:2]:
        claims.append({"type": "matches", "tag": tag, "evidence": ev})
    if v.get("landmark") and kind in ("visit", "break"):
        claims.append({"type": "landmark"})
    travel = slot.get("travel")
    if previous is not None and travel and travel.get("km") is not None:
        claims.append({"type": "leg", "from": previous["venue"]["name"], "km": round(travel["km"], 1),
                       "minutes": travel["minutes"], "mode": travel["mode"]})
    quote = whole_sentences(v.get("description"))
    if quote:
        claims.append({"type": "quote", "text": quote})
    if v.get("visit_kind") == "event" and v.get("season_months"):
        claims.append({"type": "season", "months": list(v["season_months"])})
    if v.get("monthly"):
        claims.append({"type": "monthly", "rules": [list(r) for r in v["monthly"]], "venue_type": v.get("venue_type")})
    elif v.get("hours_source") == "listed" and v.get("hours"):
        claims.append({"type": "hours", "listed": v["hours"]})
    elif v.get("catalogued", True):
        claims.append({"type": "hours_assumed", "venue_type": v.get("venue_type")})
    if group and slot.get("serves"):
        claims.append({"type": "serves", "users": list(slot["serves"])})
    return claims


def narrate(slot: dict, previous: dict | None, matched: list[tuple[str, str]], city_id: str,
            group: bool = False) -> tuple[str, list[dict]]:
    claims = claims_for(slot, previous, matched, city_id, group)
    return render_all(claims, slot["venue"]["name"]), claims


# --- the checker -------------------------------------------------------------------------------------------------
def check_claims(slot: dict, node: dict | None, previous: dict | None) -> list[str]:
    """Every claim of a rendered slot that its data does not support (empty: faithful).

    slot: a rendered slot (kind, arrive, venue, narrative, claims, serves); node: its activity_nodes row as a
    dict (None for an uncatalogued venue: then the slot's own snapshot is the only source); previous: the
    previous rendered slot of the same day."""
    from shared.domains.travel.trips.geo import haversine_km, leg

    claims = slot.get("claims")
    if not isinstance(claims, list) or not claims:
        return ["no claims recorded for this narrative"]
    v = slot["venue"]
    src = node or {"name": v["name"], "vibe_tags": v.get("tags") or [], "description": v.get("description"),
                   "hours": v.get("hours"), "landmark": v.get("landmark"), "venue_type": v.get("venue_type"),
                   "opening": None, "lat": v.get("lat"), "lon": v.get("lon"), "city_id": None}
    false: list[str] = []
    if slot.get("narrative") != render_all(claims, src["name"]):
        false.append("the narrative says more (or other) than its claims")
    for c in claims:
        t = c.get("type")
        if t == "stop":
            if c["kind"] != slot.get("kind") or c["arrive"] != slot.get("arrive"):
                false.append(f"stop claim {c['kind']} at {c['arrive']} ≠ slot {slot.get('kind')} at {slot.get('arrive')}")
            if node is not None and c["venue_type"] != node.get("venue_type") and node.get("venue_type"):
                false.append(f"calls it {c['venue_type']}, the catalogue says {node.get('venue_type')}")
        elif t == "local_hour":
            a, b = c["window"]
            if node is not None and node.get("city_id") and local_times(node["city_id"]).windows()[c["meal"]] != [a, b]:
                false.append(f"{c['meal']} window {a}-{b} is not the local one")
            if not minutes(a) <= minutes(slot["arrive"]) <= minutes(b):
                false.append(f"{c['meal']} at {slot['arrive']} is outside the stated window {a}-{b}")
        elif t == "matches":
            ev = evidence_for(c["tag"], src.get("vibe_tags") or [], venue_text(src["name"], src.get("description")))
            source, value = c["evidence"].split(":", 1)
            tags = set(src.get("vibe_tags") or [])
            text = venue_text(src["name"], src.get("description"))
            if ev is None or (source == "tag" and value not in tags) or (source == "text" and value not in text):
                false.append(f"claims a match with {c['tag']} ({c['evidence']}) the venue has no evidence for")
        elif t == "landmark":
            if not src.get("landmark"):
                false.append("calls it a landmark; the catalogue does not")
        elif t == "quote":
            desc = " ".join((src.get("description") or "").split())
            if not desc.startswith(c["text"]) or not c["text"].endswith((".", "!", "?")):
                false.append("quotes text that is not whole sentences of the description")
        elif t == "leg":
            if previous is None or previous["venue"]["name"] != c["from"]:
                false.append(f"says it follows {c['from']}, which is not the previous stop")
            else:
                a = (previous["venue"].get("lat"), previous["venue"].get("lon"))
                b = (src.get("lat"), src.get("lon"))
                if None in a or None in b:
                    false.append("states a distance between stops without coordinates")
                else:
                    km, mins, mode = leg(a, b)
                    if abs(haversine_km(a, b) - c["km"]) > 0.06 or mins != c["minutes"] or mode != c["mode"]:
                        false.append(f"states {c['km']} km / {c['minutes']} min ({c['mode']}); the data gives "
                                     f"{km:.2f} km / {mins} min ({mode})")
        elif t == "hours":
            if (src.get("hours") or "") != c["listed"]:
                false.append("quotes hours the catalogue does not list")
        elif t == "monthly":
            opening = (node or {}).get("opening") or {}
            opening = json.loads(opening) if isinstance(opening, str) else opening
            if node is not None and [list(r) for r in opening.get("monthly", [])] != c["rules"]:
                false.append("says it happens on days of the month the catalogue does not give")
        elif t == "hours_assumed":
            if node is not None and node.get("opening"):
                false.append("says the hours are not listed, but they are")
        elif t == "season":
            if node is not None and sorted(node.get("season_months") or []) != sorted(c["months"]):
                false.append("states a season the catalogue does not")
        elif t == "serves":
            if sorted(c["users"]) != sorted(slot.get("serves") or []):
                false.append("names travellers the slot does not serve")
        else:
            false.append(f"unknown claim type {t!r}")
    return false

"""The overrated detector: tourist-facing prominence cross-referenced with critical and local evidence.

A place is overrated when visitors are steered to it (prominence) while the people who know it warn against it
(criticism). Neither alone is enough: an obscure bad place is just bad, and a famous place locals also love is just
famous. Each piece of evidence is a probability-like weight; weights combine as noisy-OR (1 − Π(1 − w)):

    P = prominence  — listed on the city's main guidebook page (0.30), on several guidebook pages (0.15), in
                      TravelPlanner's attraction list (0.35), Michelin stars (0.25 each, ≤ 0.6), a large number of
                      Places ratings (0.30), tourist-facing language ("iconic", "must see", "tourist area", ...),
                      and praise in posts by self-declared visitors (0.10 each).
    N = criticism   — critical language in guidebook text ("tourist trap", "overpriced", "touristy", "mediocre",
                      "most expensive", ...; negated or comparative phrases such as "not a tourist trap",
                      "less touristy", "compared to the touristy joints" do not count), and the same
                      language in local posts, weighted by how local the post's voice is. Price words
                      count half for restaurants, bars and hotels, where a high price is often the point.
    L = local love  — "locals", "local favorite", "institution", "hidden gem", in guidebook text or local posts.

    overrated_score = P · N · (1 − 0.5·L)
    overrated_flag  = score ≥ 0.15 and P ≥ 0.3 and N ≥ 0.3

Every hit is returned as evidence (which source, which phrase, which weight) and stored in the node's
quality_signals, so a flag can always be explained.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from shared.domains.travel.catalogue.merge import MergedVenue
from shared.domains.travel.catalogue.mentions import Mention

FLAG_SCORE = 0.15
MIN_PROMINENCE = 0.3
MIN_CRITICISM = 0.3

TOURIST_FACING = {
    r"must[- ]see": 0.30, r"iconic": 0.25, r"world[- ]famous": 0.25, r"famous": 0.20, r"most popular": 0.20,
    r"landmark": 0.15, r"tourist (?:area|attraction|attractions|destination|hub)": 0.30,
    r"popular with (?:tourists|visitors)": 0.30, r"most photographed": 0.20, r"top attraction": 0.30,
    r"for visitors": 0.15, r"tourist crowd": 0.30, r"(?:mostly|mainly) (?:a )?tourists?": 0.30,
    r"tourists have flocked": 0.30, r"tourists": 0.15,
}
CRITICAL = {
    r"tourist traps?": 0.80, r"overrated": 0.70, r"over-rated": 0.70, r"overpriced": 0.60, r"over-priced": 0.60,
    r"rip[- ]?off": 0.60, r"not worth (?:it|the)": 0.50, r"touristy": 0.50, r"mediocre": 0.50,
    r"average quality": 0.40, r"not (?:very )?authentic": 0.40, r"most expensive": 0.45, r"too expensive": 0.45,
    r"expensive": 0.20, r"pricey": 0.20, r"crowded": 0.15, r"long (?:lines|line|queues|wait)": 0.20,
    r"full of tourists": 0.40, r"tourist crowds": 0.35, r"(?:skip|avoid) (?:it|this|this place|the)": 0.35,
    r"disappointing": 0.40, r"stupid": 0.25,
}
LOCAL_LOVE = {
    r"locals": 0.25, r"local favou?rite": 0.40, r"neighbou?rhood favou?rite": 0.40, r"institution": 0.30,
    r"hidden gem": 0.40, r"locals love": 0.40, r"worth the trip": 0.20,
}
# "not a tourist trap", "less touristy", "a bargain compared to the touristy joints": about something else.
# Price words criticise a sight ("the most expensive elevator ride in America") more than a restaurant or hotel,
# where a high price is often the point (a tasting menu): there they count half.
PRICE_PHRASES = ("expensive", "pricey", "overpriced", "over-priced")
PRICE_DAMPED_CATEGORIES = {"food", "drink", "lodging"}

_NEGATION = re.compile(
    r"\b(?:not|no|never|isn't|isnt|aren't|wasn't|hardly|less|than|compared to|unlike)\s+(?:\w+\s+){0,2}$", re.I
)


def _compile(table: dict[str, float]) -> list[tuple[str, re.Pattern, float]]:
    return [(p, re.compile(r"(?<![\w-])" + p + r"(?![\w-])", re.I), w) for p, w in table.items()]


_TOURIST, _CRITICAL, _LOVE = _compile(TOURIST_FACING), _compile(CRITICAL), _compile(LOCAL_LOVE)


def phrase_matches(text: str, table: list[tuple[str, re.Pattern, float]]) -> list[tuple[str, float, int, int]]:
    """(phrase, weight, start, end) of each match; a phrase preceded by a negation ("not a tourist trap") is
    ignored, and a longer phrase shadows the shorter ones it contains ("most expensive" is not also "expensive")."""
    hits: list[tuple[str, float, int, int]] = []
    for _, pattern, weight in table:
        for m in pattern.finditer(text or ""):
            if _NEGATION.search(text[max(0, m.start() - 30) : m.start()]):
                continue
            hits.append((m.group(0).lower(), weight, m.start(), m.end()))
    hits.sort(key=lambda h: (-(h[3] - h[2]), h[2]))
    kept: list[tuple[str, float, int, int]] = []
    for hit in hits:
        if any(hit[2] >= k[2] and hit[3] <= k[3] for k in kept):
            continue
        kept.append(hit)
    return sorted(kept, key=lambda h: h[2])


def phrase_hits(text: str, table: list[tuple[str, re.Pattern, float]]) -> list[tuple[str, float]]:
    """Distinct matched phrases with their weights."""
    out: dict[str, float] = {}
    for phrase, weight, _, _ in phrase_matches(text, table):
        out[phrase] = max(out.get(phrase, 0.0), weight)
    return sorted(out.items())


def snippet(text: str, start: int, end: int, width: int = 70) -> str:
    lo, hi = max(0, start - width), min(len(text), end + width)
    return ("…" if lo else "") + text[lo:hi].strip() + ("…" if hi < len(text) else "")


def noisy_or(weights: list[float]) -> float:
    miss = 1.0
    for w in weights:
        miss *= 1.0 - max(0.0, min(1.0, w))
    return 1.0 - miss


@dataclass
class OverratedResult:
    score: float
    flag: bool
    prominence: float
    criticism: float
    local_love: float
    evidence: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def as_signal(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 4), "flag": self.flag, "prominence": round(self.prominence, 4),
            "criticism": round(self.criticism, 4), "local_love": round(self.local_love, 4), "evidence": self.evidence,
        }


def assess(venue: MergedVenue, mentions: list[Mention] | None = None) -> OverratedResult:
    prominence: list[dict] = []
    critical: list[dict] = []
    love: list[dict] = []
    sources = venue.quality_signals.get("sources", {})

    wv = sources.get("wikivoyage", [])
    if any(e.get("main_page") for e in wv):
        prominence.append({"what": "listed on the city's main Wikivoyage page", "weight": 0.30})
    pages = {e.get("page") for e in wv if e.get("page")}
    if len(pages) >= 2:
        prominence.append({"what": f"listed on {len(pages)} Wikivoyage pages", "weight": 0.15})
    if any(e.get("kind") == "attraction" for e in sources.get("travelplanner", [])):
        prominence.append({"what": "in TravelPlanner's attraction list", "weight": 0.35})
    stars = max((e.get("stars", 0) or 0 for e in sources.get("michelin", [])), default=0)
    if stars:
        prominence.append({"what": f"Michelin {stars} star(s)", "weight": min(0.6, 0.25 * stars)})
    ratings = max((e.get("user_rating_count") or 0 for e in sources.get("places", [])), default=0)
    if ratings >= 1000:
        prominence.append({"what": f"{ratings} Google ratings", "weight": 0.30})

    for text in venue.texts():
        for phrase, w in phrase_hits(text, _TOURIST):
            prominence.append({"what": f"guidebook calls it {phrase!r}", "weight": w})
        seen: set[str] = set()
        for phrase, w, start, end in phrase_matches(text, _CRITICAL):
            if phrase in seen:
                continue
            seen.add(phrase)
            if venue.category in PRICE_DAMPED_CATEGORIES and any(p in phrase for p in PRICE_PHRASES):
                w = round(w / 2, 3)
            critical.append({"what": f"guidebook text: {phrase!r}", "weight": w, "snippet": snippet(text, start, end)})
        for phrase, w in phrase_hits(text, _LOVE):
            love.append({"what": f"guidebook text: {phrase!r}", "weight": w})

    for m in mentions or []:
        ref = {"source": m.post.source, "id": m.post.external_id, "channel": m.post.channel, "url": m.post.url}
        if m.tourist_flag:
            if not phrase_hits(m.snippet, _CRITICAL):
                prominence.append({"what": "mentioned by a visitor", "weight": 0.10, **ref})
            for phrase, w in phrase_hits(m.snippet, _CRITICAL):
                critical.append({"what": f"visitor post: {phrase!r}", "weight": round(w * 0.5, 3), **ref,
                                 "snippet": m.snippet[:200]})
            continue
        for phrase, w in phrase_hits(m.snippet, _CRITICAL):
            critical.append({"what": f"local post: {phrase!r}", "weight": round(min(1.0, w * (0.5 + m.local_score)), 3),
                             **ref, "snippet": m.snippet[:200]})
        for phrase, w in phrase_hits(m.snippet, _LOVE):
            love.append({"what": f"local post: {phrase!r}", "weight": round(w * m.local_score, 3), **ref})

    p = noisy_or([e["weight"] for e in prominence])
    n = noisy_or([e["weight"] for e in critical])
    lv = noisy_or([e["weight"] for e in love])
    score = p * n * (1.0 - 0.5 * lv)
    flag = score >= FLAG_SCORE and p >= MIN_PROMINENCE and n >= MIN_CRITICISM
    return OverratedResult(score, flag, p, n, lv, {"prominence": prominence, "criticism": critical, "local_love": love})

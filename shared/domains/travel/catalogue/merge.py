"""Filtering, de-duplication and merging: many source records -> one MergedVenue per real place.

Two records are the same place when their normalised names are equal, or nearly equal (difflib ratio >= 0.9, or one
name's words contain the other's with at least two words), and — whenever both carry coordinates — they lie within
MATCH_RADIUS_M of each other (same-name branches across town stay separate). Records are blocked by name tokens so
this stays near-linear. Fuzzy
matches also need compatible categories (sights/activities, food/drink, shopping, lodging). Clusters come from union-find, so A~B and B~C merge all three.

Corroboration (written to the node):
- quality_signals keeps every record's evidence, grouped by source, plus the counts;
- source_tier: 1 = two or more independent sources agree, 2 = one editorial source with text (Wikivoyage, Michelin),
  3 = a single listing without text (TravelPlanner, Places);
- cross_ref_confidence = 1 − Π(1 − w_source) over distinct sources (weights below), plus a little for repeat listings
  within one source, scaled down when the sources' coordinates disagree.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import statistics
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from shared.domains.travel.catalogue.classify import repair_text
from shared.domains.travel.catalogue.normalise import haversine_m, normalise_name
from shared.domains.travel.catalogue.records import VenueRecord

MATCH_RADIUS_M = 400.0
FUZZY_RADIUS_M = 250.0
OUTSIDE_CITY_KM = 60.0
SOURCE_WEIGHT = {"wikivoyage": 0.55, "michelin": 0.7, "travelplanner": 0.45, "places": 0.5}
EDITORIAL_SOURCES = {"wikivoyage", "michelin"}
# Which source wins when records disagree (first is best). Unknown sources sort last.
FIELD_PRIORITY = {
    "name": ["wikivoyage", "michelin", "places", "travelplanner"],
    "category": ["wikivoyage", "michelin", "places", "travelplanner"],
    "coords": ["wikivoyage", "places", "michelin", "travelplanner"],
    "address": ["wikivoyage", "places", "michelin", "travelplanner"],
    "price": ["michelin", "places", "wikivoyage", "travelplanner"],
    "hours": ["wikivoyage", "places", "michelin", "travelplanner"],
}
NODE_NAMESPACE = uuid.UUID("6f1c3f0e-8f6a-5b8e-9d51-3a0c2b7e4d10")


@dataclass
class MergedVenue:
    id: str
    city_id: str
    name: str
    category: str
    description: str
    address: str
    hours: str
    price_level: int | None
    lat: float | None
    lon: float | None
    records: list[VenueRecord]
    cuisines: list[str] = field(default_factory=list)
    quality_signals: dict[str, Any] = field(default_factory=dict)
    source_tier: int = 3
    cross_ref_confidence: float = 0.0

    @property
    def sources(self) -> list[str]:
        return sorted({r.source for r in self.records})

    @property
    def normalised_name(self) -> str:
        return normalise_name(self.name)

    def texts(self) -> list[str]:
        """Every distinct description any source gave (the overrated detector reads all of them)."""
        seen, out = set(), []
        for r in self.records:
            if r.description and r.description not in seen:
                seen.add(r.description)
                out.append(r.description)
        return out

    def embedding_text(self) -> str:
        parts = [self.name, self.category]
        if self.cuisines:
            parts.append(", ".join(self.cuisines))
        if self.description:
            parts.append(self.description)
        return ". ".join(p.strip().rstrip(".") for p in parts if p) + "."

    def content_hash(self, *versions: str) -> str:
        """What, if it changes, must be re-tagged, re-embedded and re-written."""
        body = {
            "name": self.name, "category": self.category, "description": self.description, "address": self.address,
            "hours": self.hours, "price": self.price_level, "lat": self.lat, "lon": self.lon,
            "quality_signals": self.quality_signals, "tier": self.source_tier,
            "confidence": self.cross_ref_confidence, "versions": list(versions),
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def node_id(city_id: str, name: str, lat: float | None, lon: float | None) -> str:
    """Deterministic: city + normalised name + coordinates rounded to ~100 m (or 'nocoords')."""
    cell = f"{lat:.3f},{lon:.3f}" if lat is not None and lon is not None else "nocoords"
    return str(uuid.uuid5(NODE_NAMESPACE, f"{city_id}|{normalise_name(name)}|{cell}"))


# -- filtering ---------------------------------------------------------------------------------------------------
def filter_records(records: list[VenueRecord]) -> tuple[list[VenueRecord], Counter]:
    """Drop what is not a venue, or cannot be one; return kept records and skip reasons with counts."""
    kept: list[VenueRecord] = []
    skipped: Counter = Counter()
    for r in records:
        r.name, r.description = repair_text(r.name), repair_text(r.description)  # mojibake, with ftfy
        if not r.name:
            skipped["no name"] += 1
        elif r.category is None:
            skipped[f"not a venue (listing category {r.raw_category or 'unknown'!r})"] += 1
        elif not normalise_name(r.name):
            skipped["name has no letters or digits"] += 1
        else:
            kept.append(r)
    # Coordinates far from the city's median are geocoding errors: keep the venue, drop the coordinates.
    coords = [(r.lat, r.lon) for r in kept if r.has_coords]
    if len(coords) >= 5:
        mlat = statistics.median(c[0] for c in coords)
        mlon = statistics.median(c[1] for c in coords)
        for r in kept:
            if r.has_coords and haversine_m(r.lat, r.lon, mlat, mlon) > OUTSIDE_CITY_KM * 1000:
                r.evidence["dropped_coords"] = [r.lat, r.lon]
                r.lat = r.lon = None
                skipped["coordinates dropped (> 60 km from the city centre)"] += 1
    return kept, skipped


# -- matching ----------------------------------------------------------------------------------------------------
def _close(a: VenueRecord, b: VenueRecord, radius: float) -> bool | None:
    if a.has_coords and b.has_coords:
        return haversine_m(a.lat, a.lon, b.lat, b.lon) <= radius
    return None  # unknown


_FAMILY = {"sight": "place", "activity": "place", "food": "dining", "drink": "dining"}


def _family(category: str | None) -> str:
    return _FAMILY.get(category or "", category or "")


def same_place(a: VenueRecord, b: VenueRecord) -> bool:
    na, nb = normalise_name(a.name), normalise_name(b.name)
    close = _close(a, b, MATCH_RADIUS_M)
    if na == nb:
        return close is not False
    if _family(a.category) != _family(b.category):
        return False  # a hotel named after its neighbourhood is not the neighbourhood
    ta, tb = set(na.split()), set(nb.split())
    contained = (ta <= tb or tb <= ta) and min(len(ta), len(tb)) >= 2
    similar = difflib.SequenceMatcher(None, na, nb).ratio() >= 0.9
    if not (contained or similar):
        return False
    fuzzy_close = _close(a, b, FUZZY_RADIUS_M)
    if fuzzy_close is None:
        # Without coordinates only near-identical spellings merge; containment alone is too loose for chains.
        return similar and min(len(na), len(nb)) >= 8
    return fuzzy_close


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def _block_keys(name: str, token_freq: dict[str, int]) -> set[str]:
    """The name's two rarest tokens, plus its first six letters without spaces ("gas works" ~ "gasworks")."""
    tokens = sorted(set(name.split()), key=lambda t: (token_freq.get(t, 0), t))[:2]
    return {f"t:{t}" for t in tokens} | {"p:" + name.replace(" ", "")[:6]}


def cluster(records: list[VenueRecord]) -> list[list[VenueRecord]]:
    uf = _UnionFind(len(records))
    names = [normalise_name(r.name) for r in records]
    token_freq: dict[str, int] = defaultdict(int)
    for n in names:
        for token in set(n.split()):
            token_freq[token] += 1
    keys = [_block_keys(n, token_freq) for n in names]
    blocks: dict[str, list[int]] = defaultdict(list)  # every token and the prefix index a record
    for i, n in enumerate(names):
        for k in {f"t:{t}" for t in n.split()} | {"p:" + n.replace(" ", "")[:6]}:
            blocks[k].append(i)
    # Look up only by a record's rarest tokens and prefix: cheap, and a real match shares one of them. Each pair is
    # reachable from both sides, so the outcome does not depend on record order.
    for i in range(len(records)):
        candidates = {j for k in keys[i] for j in blocks[k] if j != i}
        for j in sorted(candidates):
            if uf.find(i) != uf.find(j) and same_place(records[i], records[j]):
                uf.union(i, j)
    groups: dict[int, list[VenueRecord]] = defaultdict(list)
    for i, r in enumerate(records):
        groups[uf.find(i)].append(r)
    return [groups[k] for k in sorted(groups)]


# -- merging -----------------------------------------------------------------------------------------------------
def _rank(source: str, field_name: str) -> int:
    order = FIELD_PRIORITY[field_name]
    return order.index(source) if source in order else len(order)


def _pick(records: list[VenueRecord], field_name: str, value) -> Any:
    for r in sorted(records, key=lambda r: (_rank(r.source, field_name), r.source_id)):
        v = value(r)
        if v not in (None, "", []):
            return v
    return None


def _confidence(records: list[VenueRecord]) -> float:
    by_source = Counter(r.source for r in records)
    miss = 1.0
    for source in by_source:
        miss *= 1.0 - SOURCE_WEIGHT.get(source, 0.3)
    conf = 1.0 - miss
    repeats = sum(n - 1 for n in by_source.values())
    conf = min(1.0, conf + 0.05 * min(repeats, 2))
    located = [r for r in records if r.has_coords]
    if len({r.source for r in located}) >= 2:
        spread = max(haversine_m(a.lat, a.lon, b.lat, b.lon) for a in located for b in located)
        if spread > 150:
            conf *= 0.8
    return round(conf, 4)


def merge_cluster(city_id: str, records: list[VenueRecord]) -> MergedVenue:
    records = sorted(records, key=lambda r: (_rank(r.source, "name"), r.source_id))
    name = _pick(records, "name", lambda r: r.name)
    category = _pick(records, "category", lambda r: r.category)
    coords = _pick(records, "coords", lambda r: (r.lat, r.lon) if r.has_coords else None)
    lat, lon = coords if coords else (None, None)
    descriptions = [r.description for r in records if r.description]
    # The longest editorial description reads best; every description stays in quality_signals.
    description = max(descriptions, key=lambda d: (len(d), d)) if descriptions else ""
    cuisines = sorted({c for r in records for c in r.cuisines})
    evidence: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        item = {"source_id": r.source_id, **{k: v for k, v in r.evidence.items() if v not in (None, "", [])}}
        if r.rating is not None:
            item.setdefault("rating", r.rating)
        if r.has_coords:
            item["lat"], item["lon"] = r.lat, r.lon
        evidence[r.source].append(item)
    distinct = sorted(evidence)
    if len(distinct) >= 2:
        tier = 1
    elif distinct[0] in EDITORIAL_SOURCES and description:
        tier = 2
    else:
        tier = 3
    quality = {
        "sources": {s: evidence[s] for s in distinct},
        "n_sources": len(distinct),
        "n_records": len(records),
    }
    ratings = [r.rating for r in records if r.rating is not None]
    if ratings:
        quality["rating"] = round(max(ratings), 2)
    return MergedVenue(
        id=node_id(city_id, name, lat, lon),
        city_id=city_id,
        name=name,
        category=category,
        description=description,
        address=_pick(records, "address", lambda r: r.address) or "",
        hours=_pick(records, "hours", lambda r: r.hours) or "",
        price_level=_pick(records, "price", lambda r: r.price_level),
        lat=lat,
        lon=lon,
        records=records,
        cuisines=cuisines,
        quality_signals=quality,
        source_tier=tier,
        cross_ref_confidence=_confidence(records),
    )


def merge_records(city_id: str, records: list[VenueRecord]) -> list[MergedVenue]:
    venues = [merge_cluster(city_id, group) for group in cluster(records)]
    # Two clusters can still hash to one id (same name, coordinates in one ~100 m cell, one of them unlocated):
    # keep ids unique by folding the later cluster into the earlier one.
    by_id: dict[str, MergedVenue] = {}
    for v in venues:
        if v.id in by_id:
            by_id[v.id] = merge_cluster(city_id, by_id[v.id].records + v.records)
        else:
            by_id[v.id] = v
    return sorted(by_id.values(), key=lambda v: (v.name.lower(), v.id))

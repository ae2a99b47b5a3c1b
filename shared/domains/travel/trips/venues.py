"""Reading the city catalogue for planning: ANN over the city's Qdrant collection (`venues_<city_id>`,
named vector "vibe"), then one Postgres read for the venues' details. Also (de)serialises candidates for
the ranked-result cache, vectors as base64 float16 (64 dims → 128 bytes) to keep entries small."""
from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from shared.engine.serving.retrieval import DEFAULT_K, ann_search
from shared.engine.serving.types import Candidate

VENUE_COLUMNS = ("id, city_id, name, category, description, address, vibe_embedding, vibe_tags, quality_signals, "
                 "cross_ref_confidence, overrated_flag, overrated_score, source_tier, lat, lon, hours, price_level, "
                 "opening, hours_status, visit_kind, venue_type, season_months, plannable, coord_precision, prominence, "
                 "landmark")
LANDMARKS_PER_CITY = 12


def collection_for(city_id: str) -> str:
    return f"venues_{city_id}"


def quality_of(row: Any) -> float:
    """0..1 from whatever the catalogue recorded: an explicit quality/local score when present, else
    cross-reference confidence and source tier (tier 1 = curated sources)."""
    qs = row["quality_signals"] or {}
    for key in ("quality", "quality_score", "local_score", "score"):
        v = qs.get(key) if isinstance(qs, dict) else None
        if isinstance(v, (int, float)):
            return float(min(1.0, max(0.0, v if v <= 1.0 else v / 5.0)))
    rating = qs.get("rating") if isinstance(qs, dict) else None
    base = 0.5
    if isinstance(rating, (int, float)) and rating > 0:
        base = min(1.0, max(0.0, (float(rating) - 3.0) / 2.0))
    tier = row["source_tier"] or 3
    conf = float(row["cross_ref_confidence"] or 0.0)
    return float(min(1.0, max(0.0, 0.6 * base + 0.25 * conf + 0.15 * (3 - min(3, tier)) / 2)))


def candidate_from_row(row: Any, retrieval_score: float = 0.0, vector: np.ndarray | None = None) -> Candidate:
    vec = vector
    if vec is None and row["vibe_embedding"] is not None:
        vec = np.asarray(row["vibe_embedding"], dtype=np.float32)
    text = f"{row['name']} {row['description'] or ''}".lower()
    opening = row["opening"]
    return Candidate(
        id=row["id"], name=row["name"], category=(row["category"] or "").lower(), tags=tuple(row["vibe_tags"] or ()),
        vector=vec, retrieval_score=retrieval_score, quality=quality_of(row), overrated=bool(row["overrated_flag"]),
        price_level=row["price_level"], lat=row["lat"], lon=row["lon"], hours=row["hours"],
        extra={"text": text[:600], "description": row["description"] or None, "address": row["address"],
               # the schedule as compact JSON text: hashable, so each distinct schedule is decoded once per process
               "opening": json.dumps(opening, sort_keys=True, separators=(",", ":")) if opening else None,
               "venue_type": row["venue_type"], "visit_kind": row["visit_kind"],
               "season_months": list(row["season_months"]) if row["season_months"] else None,
               "plannable": bool(row["plannable"]), "coord_precision": row["coord_precision"],
               "landmark": bool(row["landmark"]), "prominence": float(row["prominence"] or 0.0)},
    )


async def fetch_rows(conn, ids: list[str], *, plannable_only: bool = False) -> dict[str, Any]:
    where = " AND plannable" if plannable_only else ""
    rows = await conn.fetch(f"SELECT {VENUE_COLUMNS} FROM activity_nodes WHERE id = ANY($1::text[]){where}", ids)
    return {r["id"]: r for r in rows}


async def fetch_landmarks(conn, city_id: str) -> list[Any]:
    """The city's landmarks (marked at seeding from source prominence): every first visit may need one,
    whatever the persona's nearest neighbours are."""
    return await conn.fetch(f"SELECT {VENUE_COLUMNS} FROM activity_nodes WHERE city_id = $1 AND landmark AND plannable"
                            " ORDER BY prominence DESC LIMIT $2", city_id, LANDMARKS_PER_CITY)


TAG_CANDIDATES = 80


async def fetch_tag_candidates(conn, city_id: str, terms: list[str], keywords: list[str], have: set[str],
                               limit: int = TAG_CANDIDATES) -> list[Candidate]:
    """Plannable, located venues with evidence for the traveller's own tags (a taxonomy term among their tags,
    or a keyword in name or description: the test of evidence.evidence_for), best known first. Cold travellers
    share their archetype's ranked pool, which may hold few of the places a "seafood" or "pizza" traveller
    asked for; these are added to it."""
    if not terms and not keywords:
        return []
    rows = await conn.fetch(
        f"SELECT {VENUE_COLUMNS} FROM activity_nodes WHERE city_id = $1 AND plannable"
        " AND coord_precision IN ('exact', 'district') AND NOT (id = ANY($4::text[]))"
        " AND (vibe_tags && $2::text[] OR lower(name || ' ' || coalesce(description, '')) LIKE ANY($3::text[]))"
        " ORDER BY prominence DESC, id LIMIT $5",
        city_id, terms, [f"%{k}%" for k in keywords], sorted(have), limit)
    return [candidate_from_row(r) for r in rows]


BREAK_CANDIDATES = 150


async def fetch_break_candidates(conn, city_id: str, have: set[str],
                                 limit: int = BREAK_CANDIDATES) -> list[Candidate]:
    """Plannable, located places anyone can drop into between two stops (stops.BREAK_TYPES: parks, squares,
    viewpoints, streets, markets), best known first: a long wait is filled from the whole city, not only from
    the archetype's ranked pool."""
    from shared.domains.travel.trips.stops import BREAK_TYPES

    rows = await conn.fetch(
        f"SELECT {VENUE_COLUMNS} FROM activity_nodes WHERE city_id = $1 AND plannable"
        " AND coord_precision IN ('exact', 'district') AND venue_type = ANY($2::text[])"
        " AND NOT (id = ANY($3::text[])) ORDER BY prominence DESC, id LIMIT $4", city_id, sorted(BREAK_TYPES), sorted(have), limit)
    return [candidate_from_row(r) for r in rows]


async def search(qdrant, city_id: str, query: np.ndarray, k: int = DEFAULT_K):
    """Ids and similarities only: details and the vibe vector come from Postgres (fetch_rows)."""
    return await ann_search(qdrant, collection_for(city_id), query, k=k, with_vectors=False, payload_fields=["id"])


OVERFETCH = 3          # ANN fetches k*OVERFETCH, then balance_stop_kinds keeps k
# at least this many candidates for each kind of stop, when the city has them: a persona far from nightlife
# still needs dinner, and a food lover still needs somewhere to go between meals
STOP_QUOTAS = {"visit": 70, "lunch": 45, "dinner": 45, "night": 25, "breakfast": 15, "treat": 10}


def balance_stop_kinds(cands: list[Candidate], k: int = DEFAULT_K) -> list[Candidate]:
    """The k best by similarity, except that each kind of stop keeps its quota of fitting candidates.
    Order stays ANN order; landmarks are always kept."""
    from shared.domains.travel.trips.stops import fits

    if len(cands) <= k:
        return cands
    every_tag = {"shopping", "books", "theatre", "live_music"}
    keep: set[int] = {i for i, c in enumerate(cands) if c.extra.get("landmark")}
    for kind, quota in STOP_QUOTAS.items():
        keep.update([i for i, c in enumerate(cands) if fits(c, kind, every_tag)][:quota])
    for i in range(len(cands)):
        if len(keep) >= k:
            break
        keep.add(i)
    return [cands[i] for i in sorted(keep)][:k]


async def retrieve(conn, qdrant, city_id: str, query: np.ndarray, k: int = DEFAULT_K) -> list[Candidate]:
    """ANN candidates (k of them, balanced across kinds of stop), hydrated from Postgres, in ANN order, plus the
    city's landmarks. Only plannable venues: services, lodging and uncorroborated records never reach a ranker."""
    hits = await search(qdrant, city_id, query, k * OVERFETCH)
    rows = await fetch_rows(conn, [h[0] for h in hits], plannable_only=True)
    out = []
    for vid, score, _payload, vec in hits:
        row = rows.get(vid)
        if row is None:
            continue  # not plannable, or a vector without a catalogue row (stale index entry)
        out.append(candidate_from_row(row, score, vec))
    have = {c.id for c in out}
    floor = min((c.retrieval_score for c in out), default=0.0)
    out += [candidate_from_row(r, floor) for r in await fetch_landmarks(conn, city_id) if r["id"] not in have]
    return balance_stop_kinds(out, k)[:k]


def _vec_to_b64(v: np.ndarray | None) -> str | None:
    if v is None:
        return None
    return base64.b64encode(np.asarray(v, dtype=np.float16).tobytes()).decode()


def _vec_from_b64(s: str | None) -> np.ndarray | None:
    if not s:
        return None
    return np.frombuffer(base64.b64decode(s), dtype=np.float16).astype(np.float32)


def to_cache(c: Candidate) -> dict:
    return {"id": c.id, "n": c.name, "c": c.category, "t": list(c.tags), "v": _vec_to_b64(c.vector),
            "r": round(c.retrieval_score, 5), "q": round(c.quality, 4), "o": c.overrated, "p": c.price_level,
            "la": c.lat, "lo": c.lon, "h": c.hours, "x": c.extra}


def from_cache(d: dict) -> Candidate:
    return Candidate(id=d["id"], name=d["n"], category=d["c"], tags=tuple(d["t"]), vector=_vec_from_b64(d["v"]),
                     retrieval_score=d["r"], quality=d["q"], overrated=d["o"], price_level=d["p"], lat=d["la"],
                     lon=d["lo"], hours=d["h"], extra=d.get("x") or {})

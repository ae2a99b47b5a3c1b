"""Reading the city catalogue for planning: ANN over the city's Qdrant collection (`venues_<city_id>`,
named vector "vibe"), then one Postgres read for the venues' details. Also (de)serialises candidates for
the ranked-result cache, vectors as base64 float16 (64 dims → 128 bytes) to keep entries small."""
from __future__ import annotations

import base64
from typing import Any

import numpy as np

from shared.engine.serving.retrieval import DEFAULT_K, ann_search
from shared.engine.serving.types import Candidate

VENUE_COLUMNS = ("id, city_id, name, category, description, address, vibe_embedding, vibe_tags, quality_signals, "
                 "cross_ref_confidence, overrated_flag, overrated_score, source_tier, lat, lon, hours, price_level")


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
    return Candidate(
        id=row["id"], name=row["name"], category=(row["category"] or "").lower(), tags=tuple(row["vibe_tags"] or ()),
        vector=vec, retrieval_score=retrieval_score, quality=quality_of(row), overrated=bool(row["overrated_flag"]),
        price_level=row["price_level"], lat=row["lat"], lon=row["lon"], hours=row["hours"],
        extra={"text": text[:600], "description": (row["description"] or "")[:300] or None, "address": row["address"]},
    )


async def fetch_rows(conn, ids: list[str]) -> dict[str, Any]:
    rows = await conn.fetch(f"SELECT {VENUE_COLUMNS} FROM activity_nodes WHERE id = ANY($1::text[])", ids)
    return {r["id"]: r for r in rows}


def search(qdrant, city_id: str, query: np.ndarray, k: int = DEFAULT_K):
    """Ids and similarities only: details and the vibe vector come from Postgres (fetch_rows)."""
    return ann_search(qdrant, collection_for(city_id), query, k=k, with_vectors=False, payload_fields=["id"])


OVERFETCH = 2          # ANN fetches k*OVERFETCH, then balance_day_parts keeps k
DAY_PART_QUOTA = 40    # at least this many candidates that suit each day part, when the city has them


def balance_day_parts(cands: list[Candidate], k: int = DEFAULT_K, quota: int = DAY_PART_QUOTA) -> list[Candidate]:
    """The k best by similarity, except that each day part keeps at least `quota` fitting candidates:
    a persona far from nightlife still needs somewhere to go in the evening. Order stays ANN order."""
    from shared.domains.travel.trips.dayparts import DAY_PARTS, MIN_FIT, day_part_fit

    if len(cands) <= k:
        return cands
    keep: set[int] = set()
    for part in DAY_PARTS:
        fitting = [i for i, c in enumerate(cands) if day_part_fit(c.category, c.tags, part) >= MIN_FIT]
        keep.update(fitting[:quota])
    for i in range(len(cands)):
        if len(keep) >= k:
            break
        keep.add(i)
    return [cands[i] for i in sorted(keep)][:max(k, len(keep))]


async def retrieve(conn, qdrant, city_id: str, query: np.ndarray, k: int = DEFAULT_K) -> list[Candidate]:
    """ANN candidates (k of them, balanced across day parts), hydrated from Postgres, in ANN order.
    Lodging never makes an itinerary stop."""
    hits = search(qdrant, city_id, query, k * OVERFETCH)
    rows = await fetch_rows(conn, [h[0] for h in hits])
    out = []
    for vid, score, _payload, vec in hits:
        row = rows.get(vid)
        if row is None:
            continue  # vector without a catalogue row: stale index entry, skip
        c = candidate_from_row(row, score, vec)
        if c.category in ("lodging", "sleep"):
            continue
        out.append(c)
    return balance_day_parts(out, k)[:k]


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

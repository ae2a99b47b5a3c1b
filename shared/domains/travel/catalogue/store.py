"""Postgres side of seeding: the cities row, activity_nodes, and scraped posts linked to nodes.

Writes happen in one transaction per run, after tagging and embedding, so a failed run leaves Postgres as it was.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.domains.travel.catalogue.normalise import haversine_m, normalise_name


@dataclass
class ExistingNode:
    id: str
    name: str
    lat: float | None
    lon: float | None
    content_hash: str | None
    tags: list[str]
    provenance: dict[str, Any]
    vibe: np.ndarray | None


async def load_existing(pool, city_id: str) -> dict[str, ExistingNode]:
    rows = await pool.fetch(
        "SELECT id, name, lat, lon, vibe_tags, provenance, vibe_embedding FROM activity_nodes WHERE city_id = $1",
        city_id,
    )
    return {
        r["id"]: ExistingNode(r["id"], r["name"], r["lat"], r["lon"], (r["provenance"] or {}).get("content_hash"),
                              list(r["vibe_tags"] or []), r["provenance"] or {}, r["vibe_embedding"])
        for r in rows
    }


def reconcile_ids(venues, existing: dict[str, ExistingNode], radius_m: float = 400.0) -> int:
    """Reuse an existing node's id for a venue whose computed id is new but which is the same place by name (and
    location, when both are known) — e.g. a source that now supplies coordinates moved its id's geocell. Without
    this a re-run with other sources could write a duplicate. Returns how many ids were reused."""
    taken = {v.id for v in venues if v.id in existing}
    by_name: dict[str, list[ExistingNode]] = {}
    for node in existing.values():
        if node.id not in taken:
            by_name.setdefault(normalise_name(node.name), []).append(node)
    reused = 0
    for v in venues:
        if v.id in existing:
            continue
        for node in by_name.get(v.normalised_name, []):
            if node.id in taken:
                continue
            if None not in (v.lat, v.lon, node.lat, node.lon) and haversine_m(v.lat, v.lon, node.lat, node.lon) > radius_m:
                continue
            v.id = node.id
            taken.add(node.id)
            reused += 1
            break
    return reused


async def upsert_city(conn, city_id: str, name: str, lat: float | None, lon: float | None) -> None:
    await conn.execute(
        """
        INSERT INTO cities (id, name, lat, lon) VALUES ($1, $2, $3, $4)
        ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, lat = coalesce(EXCLUDED.lat, cities.lat),
                                       lon = coalesce(EXCLUDED.lon, cities.lon)
        """,
        city_id, name, lat, lon,
    )


NODE_COLUMNS = (
    "id", "city_id", "name", "category", "description", "address", "vibe_embedding", "vibe_tags", "quality_signals",
    "cross_ref_confidence", "overrated_flag", "overrated_score", "source_tier", "lat", "lon", "hours", "price_level",
    "provenance", "opening", "hours_status", "visit_kind", "venue_type", "season_months", "plannable", "plannable_reason",
    "coord_precision", "prominence", "landmark",
)


async def upsert_nodes(conn, rows: list[tuple]) -> None:
    cols = ", ".join(NODE_COLUMNS)
    params = ", ".join(f"${i}" for i in range(1, len(NODE_COLUMNS) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in NODE_COLUMNS if c not in ("id", "city_id"))
    await conn.executemany(
        f"""
        INSERT INTO activity_nodes ({cols}) VALUES ({params})
        ON CONFLICT (id) DO UPDATE SET {updates}, updated_at = now()
        WHERE activity_nodes.provenance->>'content_hash' IS DISTINCT FROM EXCLUDED.provenance->>'content_hash'
        """,
        rows,
    )


async def finish_city(conn, city_id: str) -> int:
    return await conn.fetchval(
        """
        UPDATE cities SET seeded_at = now(),
               venue_count = (SELECT count(*) FROM activity_nodes WHERE city_id = $1)
         WHERE id = $1
        RETURNING venue_count
        """,
        city_id,
    )


async def save_posts(conn, city_id: str, rows: list[tuple]) -> None:
    """rows: (source, external_id, raw_text, url, activity_node_id, local_score, tourist_flag)."""
    await conn.executemany(
        """
        INSERT INTO scraped_posts (source, external_id, city_id, raw_text, url, activity_node_id, local_score,
                                   tourist_flag, processed_at)
        VALUES ($1, $2, $8, $3, $4, $5, $6, $7, now())
        ON CONFLICT (source, external_id) DO UPDATE
           SET raw_text = EXCLUDED.raw_text, url = EXCLUDED.url, activity_node_id = EXCLUDED.activity_node_id,
               local_score = EXCLUDED.local_score, tourist_flag = EXCLUDED.tourist_flag, processed_at = now()
        """,
        [(*r, city_id) for r in rows],
    )

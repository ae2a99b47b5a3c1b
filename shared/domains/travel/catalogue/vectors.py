"""Qdrant layout for venues: ONE COLLECTION PER CITY.

Why per city: every venue query is scoped to one city, and qdrant-client's local mode (our local stand-in) scans
and filters in Python — a city filter over one big collection is slow there, while a per-city collection needs no
filter at all. In the cloud it also keeps each HNSW graph small and lets a city be rebuilt or dropped alone.

    collection_name(city_id) -> "venues_<city_id>"       (the one place that spells it)
    named vectors: "vibe" (64-d, cosine) — the vibe embedding (also in Postgres activity_nodes.vibe_embedding)
                   "text" (384-d, cosine) — the sentence embedding, for free-text search and the student tagger
    point id = activity_nodes.id (a UUID); payload: node_id, city_id, name, category, tags, price_level, lat, lon,
    location {lat, lon} (when known), overrated_flag, overrated_score, source_tier, cross_ref_confidence, tagger,
    embedding_version.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

log = logging.getLogger("concierge.catalogue.vectors")

VIBE_VECTOR = "vibe"
TEXT_VECTOR = "text"
COLLECTION_PREFIX = "venues_"
_CITY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")
KEYWORD_FIELDS = ("category", "tags", "city_id")


def collection_name(city_id: str) -> str:
    if not _CITY_ID.match(city_id or ""):
        raise ValueError(f"city id {city_id!r} is not a slug (lower-case letters, digits, hyphens)")
    return f"{COLLECTION_PREFIX}{city_id}"


def ensure_collection(client, city_id: str) -> str:
    from qdrant_client.http import models

    name = collection_name(city_id)
    if not client.collection_exists(name):
        client.create_collection(
            name,
            vectors_config={
                VIBE_VECTOR: models.VectorParams(size=64, distance=models.Distance.COSINE),
                TEXT_VECTOR: models.VectorParams(size=384, distance=models.Distance.COSINE),
            },
        )
        import warnings

        for field_name in KEYWORD_FIELDS:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # local mode warns that it has no payload indexes
                    client.create_payload_index(name, field_name, models.PayloadSchemaType.KEYWORD)
            except Exception as exc:  # a server without the route is fine too: indexes only speed up filters
                log.debug("payload index %s.%s not created: %s", name, field_name, exc)
    return name


def existing_ids(client, city_id: str, ids: Iterable[str], chunk: int = 256) -> set[str]:
    name = collection_name(city_id)
    if not client.collection_exists(name):
        return set()
    wanted = list(ids)
    found: set[str] = set()
    for start in range(0, len(wanted), chunk):
        points = client.retrieve(name, ids=wanted[start : start + chunk], with_payload=False, with_vectors=False)
        found.update(str(p.id) for p in points)
    return found


def upsert_venues(client, city_id: str, ids: list[str], vibe: np.ndarray, text: np.ndarray,
                  payloads: list[dict[str, Any]], chunk: int = 128) -> int:
    from qdrant_client.http import models

    name = ensure_collection(client, city_id)
    for start in range(0, len(ids), chunk):
        stop = start + chunk
        points = [
            models.PointStruct(
                id=pid,
                vector={VIBE_VECTOR: v.astype(float).tolist(), TEXT_VECTOR: t.astype(float).tolist()},
                payload=payload,
            )
            for pid, v, t, payload in zip(ids[start:stop], vibe[start:stop], text[start:stop], payloads[start:stop])
        ]
        client.upsert(name, points=points, wait=True)
    return len(ids)


def count(client, city_id: str) -> int:
    name = collection_name(city_id)
    if not client.collection_exists(name):
        return 0
    return int(client.count(name, exact=True).count)

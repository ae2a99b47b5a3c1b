"""Reads of the catalogue tables (migration 053) and of each catalogue's Qdrant collection.

Every coroutine takes `conn`: an asyncpg connection or pool (both answer fetch/fetchrow/fetchval). Qdrant calls
take the client (AsyncQdrantClient on request paths; a sync QdrantClient works too). Writes live with their one
writer: importer.py (bulk) and interactions.py (one streamed event).

    collection_name(catalogue_id)            "catalogue_<id>": 384-d cosine text vectors, payload item_id
    history_version_key(catalogue, user)     Redis counter the interaction sink INCRs on every stored event; the
                                             recommendations result cache keys on it
"""
from __future__ import annotations

import inspect
import io
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.domains.catalogues.contract import CATALOGUE_ID

if TYPE_CHECKING:
    from shared.engine.data.dataset import InteractionDataset

COLLECTION_PREFIX = "catalogue_"
# point ids: uuid5 of the item id in this namespace (Qdrant ids are unsigned ints or UUIDs, item ids are any text)
POINT_NAMESPACE = uuid.UUID("5d0c7f0e-5c1b-4f4e-9a59-6f0c8d7e2b11")
MAX_DECAY_EXPONENT = 1000.0   # 0.5 ** 1000 ≈ 1e-301: older events weigh 0 rather than underflowing Postgres' power()


@dataclass(frozen=True)
class CatalogueInfo:
    id: str
    title: str
    item_count: int
    interaction_count: int
    embedding_version: str | None
    imported_at: datetime | None


@dataclass(frozen=True)
class ItemRow:
    item_id: str
    title: str
    categories: tuple[str, ...]
    attributes: dict


def history_version_key(catalogue_id: str, user_id: str) -> str:
    return f"recs:hv:{catalogue_id}:{user_id}"


def collection_name(catalogue_id: str) -> str:
    """Qdrant accepts 1-255 characters without < > : " / \\ | ? * or NUL; a catalogue id (contract.CATALOGUE_ID:
    lower-case letters, digits, '-', '_', at most 63) always makes a valid name, so no id is ever rewritten (two ids
    could otherwise meet in one collection). Anything else is not a catalogue id and is refused."""
    if not isinstance(catalogue_id, str) or not CATALOGUE_ID.match(catalogue_id):
        raise ValueError(f"{catalogue_id!r} is not a catalogue id (lower-case letters, digits, '-', '_')")
    return f"{COLLECTION_PREFIX}{catalogue_id}"


def point_id(item_id: str) -> str:
    return str(uuid.uuid5(POINT_NAMESPACE, item_id))


async def _maybe(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


_CATALOGUE_COLUMNS = "id, title, item_count, interaction_count, embedding_version, imported_at"


def _info(row) -> CatalogueInfo:
    return CatalogueInfo(row["id"], row["title"], int(row["item_count"]), int(row["interaction_count"]),
                         row["embedding_version"], row["imported_at"])


async def get_catalogue(conn, catalogue_id: str) -> CatalogueInfo | None:
    row = await conn.fetchrow(f"SELECT {_CATALOGUE_COLUMNS} FROM catalogues WHERE id = $1", catalogue_id)
    return _info(row) if row else None


async def list_catalogues(conn) -> list[CatalogueInfo]:
    return [_info(r) for r in await conn.fetch(f"SELECT {_CATALOGUE_COLUMNS} FROM catalogues ORDER BY id")]


async def user_history(conn, catalogue_id: str, user_id: str, limit: int = 50) -> list[str]:
    """The user's last `limit` item ids, oldest first and most recent LAST; equal times in the order stored."""
    rows = await conn.fetch(
        """SELECT item_id FROM (
               SELECT item_id, occurred_at, id FROM catalogue_interactions
                WHERE catalogue_id = $1 AND user_id = $2
                ORDER BY occurred_at DESC, id DESC LIMIT $3) h
            ORDER BY occurred_at, id""",
        catalogue_id, user_id, limit)
    return [r["item_id"] for r in rows]


async def users_histories(conn, catalogue_id: str, user_ids: list[str], limit: int = 50) -> dict[str, list[str]]:
    """user_history for a batch, in one query; every asked user is in the answer ([] without history)."""
    unique = list(dict.fromkeys(user_ids))
    out: dict[str, list[str]] = {u: [] for u in unique}
    if not unique:
        return out
    rows = await conn.fetch(
        """SELECT u.user_id, h.item_id
             FROM unnest($2::text[]) WITH ORDINALITY AS u(user_id, ord)
             CROSS JOIN LATERAL (
                 SELECT item_id, occurred_at, id FROM catalogue_interactions
                  WHERE catalogue_id = $1 AND user_id = u.user_id
                  ORDER BY occurred_at DESC, id DESC LIMIT $3) h
            ORDER BY u.ord, h.occurred_at, h.id""",
        catalogue_id, unique, limit)
    for r in rows:
        out[r["user_id"]].append(r["item_id"])
    return out


async def all_items(conn, catalogue_id: str) -> list[ItemRow]:
    rows = await conn.fetch(
        "SELECT item_id, title, categories, attributes FROM catalogue_items WHERE catalogue_id = $1 ORDER BY item_id",
        catalogue_id)
    return [ItemRow(r["item_id"], r["title"], tuple(r["categories"] or ()), _json(r["attributes"])) for r in rows]


def _json(value: Any) -> dict:
    """jsonb as a dict whether or not the connection has the pool's json codec (a bare asyncpg connection gives text)."""
    if isinstance(value, str):
        import json

        value = json.loads(value)
    return value or {}


async def popularity(conn, catalogue_id: str, half_life_days: float | None, now: datetime) -> dict[str, float]:
    """item id -> sum of its interactions' weights, each times 0.5 ** (age_days / half_life_days) when a half-life is
    given (age from `now`; events after `now` count as age 0)."""
    if half_life_days is not None and not half_life_days > 0:
        raise ValueError("half_life_days must be positive (or None for no decay)")
    rows = await conn.fetch(
        """SELECT item_id, sum(weight * CASE
                     WHEN $2::float8 IS NULL THEN 1.0
                     ELSE (SELECT CASE WHEN x > $4 THEN 0.0 ELSE power(0.5::float8, x) END
                             FROM (SELECT GREATEST(extract(epoch FROM ($3::timestamptz - occurred_at))::float8, 0.0)
                                          / 86400.0 / $2::float8 AS x) e)
                   END)::float8 AS score
             FROM catalogue_interactions WHERE catalogue_id = $1
            GROUP BY item_id""",
        catalogue_id, half_life_days, now, MAX_DECAY_EXPONENT)
    return {r["item_id"]: float(r["score"]) for r in rows}


async def catalogue_source(conn, catalogue_id: str) -> dict:
    return _json(await conn.fetchval("SELECT source FROM catalogues WHERE id = $1", catalogue_id))


async def interaction_dataset(conn, catalogue_id: str) -> InteractionDataset:
    """Every stored interaction, in the order stored, as the engine's InteractionDataset (name: the catalogue id):
    timestamps in µs (None for a catalogue whose source has no time, e.g. movielens-1m), weights, event_type as
    context, and the items' title and text as item features (what the two-tower text side reads)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from shared.engine.data.dataset import InteractionDataset

    source = await catalogue_source(conn, catalogue_id)
    buf = io.BytesIO()
    await conn.copy_from_query(
        """SELECT user_id, item_id,
                  (extract(epoch FROM occurred_at) * 1000000)::bigint AS occurred_us, weight, event_type
             FROM catalogue_interactions WHERE catalogue_id = $1 ORDER BY id""",
        catalogue_id, output=buf, format="csv", header=True)
    buf.seek(0)
    types = {"user_id": pa.string(), "item_id": pa.string(), "occurred_us": pa.int64(), "weight": pa.float32(),
             "event_type": pa.string()}
    table = pacsv.read_csv(buf, parse_options=pacsv.ParseOptions(newlines_in_values=True),
                           convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                                                quoted_strings_can_be_null=False))
    items = await conn.fetch("SELECT item_id, title, body FROM catalogue_items WHERE catalogue_id = $1", catalogue_id)
    has_time = bool(source.get("has_time", True))
    return InteractionDataset.from_columns(
        catalogue_id,
        table.column("user_id").to_numpy(zero_copy_only=False),
        table.column("item_id").to_numpy(zero_copy_only=False),
        timestamps=table.column("occurred_us").to_numpy() if has_time else None,
        weights=table.column("weight").to_numpy(),
        context={"event_type": table.column("event_type").to_numpy(zero_copy_only=False)},
        item_features={"title": {r["item_id"]: r["title"] for r in items},
                       "text": {r["item_id"]: r["body"] for r in items if r["body"]}},
    )


async def item_vectors(qdrant, catalogue_id: str) -> tuple[list[str], np.ndarray]:
    """Every item's text embedding from the catalogue's collection: (item ids sorted, (n, 384) float32 L2-normalised).
    A missing collection raises (the caller decides what serving without text vectors means)."""
    name = collection_name(catalogue_id)
    ids: list[str] = []
    vectors: list[list[float]] = []
    offset = None
    while True:
        points, offset = await _maybe(qdrant.scroll(name, limit=1024, offset=offset, with_payload=["item_id"],
                                                    with_vectors=True))
        for p in points:
            vec = p.vector
            if isinstance(vec, dict):  # a named-vector collection: the one text vector
                vec = next(iter(vec.values()))
            ids.append(str((p.payload or {}).get("item_id")))
            vectors.append(vec)
        if offset is None:
            break
    if not ids:
        return [], np.zeros((0, 384), dtype=np.float32)
    order = sorted(range(len(ids)), key=ids.__getitem__)
    matrix = np.asarray([vectors[i] for i in order], dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return [ids[i] for i in order], matrix / np.where(norms > 0, norms, 1.0)

"""Import a catalogue: validate everything, embed the items, then write Postgres (items, then interactions, one
transaction each) and the catalogue's Qdrant collection.

Order, and why:
1. validate: every item and interaction row (contract.py) and every interaction's item (this import's items or the
   catalogue's); any problem raises ContractError naming row and field, and nothing has been written;
2. embed: the items' title + text with the project's ONNX MiniLM encoder (shared.engine.embeddings.encoder), only
   for items whose text changed since the collection last stored them (payload text_hash + embedding_version).
   The encoder is loaded first (a missing one fails here, before any write); encoding then runs in threads while
   steps 3 and 4 write, and step 5 waits for it;
3. items: one transaction: the catalogue row, then every item upserted (a changed item is updated, an unchanged
   one untouched; items absent from this import are kept, with their interactions);
4. interactions: one transaction: COPY into a temp table, then INSERT ... ON CONFLICT (event_id) DO NOTHING, so a
   re-import (or an event already streamed through the sink) is stored once; interaction_count grows by the rows
   really inserted;
5. vectors: upserted into `catalogue_<id>` (cosine, point id uuid5(item id), payload item_id) chunk by chunk
   as they are encoded, overlapping steps 3 and 4 (a failed import can leave vectors for items Postgres lacks:
   harmless, readers match vectors to items by id, and a re-run repairs both); then catalogues.embedding_version
   and imported_at are set. Users who got new interactions have their history
   version (store.history_version_key) bumped in Redis when a client is given, so cached lists are recomputed.
"""
from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.domains.catalogues import store
from shared.domains.catalogues.contract import (CatalogueItem, ContractError, Interaction, InteractionTable, RowError,
                                                check_items_known, validate_catalogue_id, validate_items)

COPY_CHUNK = 200_000
EMBED_CHUNK = 512
UPSERT_CHUNK = 256
LONG_STATEMENT_S = 900.0   # the pool's default command_timeout (30 s) is for requests, not a million-row insert


@dataclass
class ImportSummary:
    catalogue_id: str
    title: str
    items: int = 0                    # items in this import
    items_written: int = 0            # of those, new or changed
    items_total: int = 0              # items in the catalogue afterwards
    interactions: int = 0             # rows in this import
    interactions_inserted: int = 0
    interactions_skipped: int = 0     # already stored (same event id): re-imports, redeliveries
    interaction_total: int = 0        # catalogues.interaction_count afterwards
    vectors_embedded: int = 0
    vectors_reused: int = 0           # unchanged text, vector already in the collection
    embedding_version: str = ""
    collection: str = ""
    users_invalidated: int | None = None   # history versions bumped (None: no Redis client given)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format(self) -> str:
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())
        return (f"catalogue {self.catalogue_id} ({self.title}): {self.items} items ({self.items_written} new or "
                f"changed, {self.items_total} in the catalogue); {self.interactions} interactions: "
                f"{self.interactions_inserted} inserted, {self.interactions_skipped} already stored "
                f"({self.interaction_total} in the catalogue); vectors: {self.vectors_embedded} embedded, "
                f"{self.vectors_reused} unchanged, collection {self.collection} ({self.embedding_version}). "
                f"Time: {steps}")


async def _maybe(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


async def _call(fn, *args, **kwargs) -> Any:
    """A client method: awaited when async (AsyncQdrantClient), else run in a thread, so a slow sync upsert never
    holds the event loop the Postgres writes run on."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args, **kwargs)
    return await asyncio.to_thread(fn, *args, **kwargs)


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _as_items(items: Iterable[CatalogueItem | Mapping[str, Any]]) -> list[CatalogueItem]:
    items = list(items)
    if all(isinstance(i, CatalogueItem) for i in items):
        seen: set[str] = set()
        dupes = [RowError("items", n, "item_id", f"duplicate item_id {i.item_id!r}")
                 for n, i in enumerate(items, 1) if i.item_id in seen or seen.add(i.item_id)]
        if dupes:
            raise ContractError(dupes)
        return items
    return validate_items(items)


def _as_table(interactions: InteractionTable | Iterable[Interaction | Mapping[str, Any]] | None) -> InteractionTable:
    if interactions is None:
        return InteractionTable.empty()
    if isinstance(interactions, InteractionTable):
        return interactions
    return InteractionTable.from_rows(interactions)


async def _existing_points(qdrant, name: str) -> dict[str, dict]:
    """point id -> payload of what the collection holds (no vectors); {} when there is no collection yet."""
    if not await _maybe(qdrant.collection_exists(name)):
        return {}
    out: dict[str, dict] = {}
    offset = None
    while True:
        points, offset = await _maybe(qdrant.scroll(name, limit=2048, offset=offset, with_payload=True,
                                                    with_vectors=False))
        out.update({str(p.id): dict(p.payload or {}) for p in points})
        if offset is None:
            return out


async def import_catalogue(pool, qdrant, catalogue_id: str, title: str,
                           items: Iterable[CatalogueItem | Mapping[str, Any]],
                           interactions: InteractionTable | Iterable[Interaction | Mapping[str, Any]] | None,
                           progress: Callable[[str], Any] = print, *, source: Mapping[str, Any] | None = None,
                           redis=None, encoder=None) -> ImportSummary:
    """Import (or re-import) one catalogue; see the module docstring. `progress` gets one line per step and per
    chunk of the long steps (it may be a coroutine function). Raises ContractError before writing anything when a
    row is invalid."""
    from qdrant_client.http import models

    from shared.engine.embeddings.model_files import EXPORT_VERSION, TEXT_DIM

    started = time.perf_counter()
    clock = started

    async def say(message: str) -> None:
        await _maybe(progress(f"[import {catalogue_id}] {time.perf_counter() - started:6.1f}s {message}"))

    def lap(summary: ImportSummary, step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        summary.seconds[step] = round(now - clock, 3)
        clock = now

    # 1. validate everything --------------------------------------------------------------------------------------
    validate_catalogue_id(catalogue_id)
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise ContractError([RowError("catalogue", 0, "title", "required, 1-200 characters")])
    item_list = _as_items(items)
    table = _as_table(interactions)
    summary = ImportSummary(catalogue_id, title, items=len(item_list), interactions=len(table),
                            embedding_version=EXPORT_VERSION, collection=store.collection_name(catalogue_id))
    await say(f"validating {len(item_list)} items and {len(table)} interactions")
    existing = {r["item_id"] for r in await pool.fetch(
        "SELECT item_id FROM catalogue_items WHERE catalogue_id = $1", catalogue_id)}
    check_items_known(table, existing | {i.item_id for i in item_list})
    event_ids = table.stored_event_ids(catalogue_id)
    lap(summary, "validate")

    # 2. embed what changed -------------------------------------------------------------------------------------------
    name = summary.collection
    stored = await _existing_points(qdrant, name)
    recreate = any(p.get("embedding_version") != EXPORT_VERSION for p in stored.values())
    if recreate:
        stored = {}
    todo = [(i, store.point_id(i.item_id), _text_hash(i.embedding_text)) for i in item_list]
    todo = [(i, pid, h) for i, pid, h in todo if stored.get(pid, {}).get("text_hash") != h
            or stored.get(pid, {}).get("item_id") != i.item_id]
    summary.vectors_reused = len(item_list) - len(todo)
    if todo and encoder is None:  # loaded before any write: a missing encoder fails the import here
        from shared.engine.embeddings.encoder import get_encoder

        encoder = await asyncio.to_thread(get_encoder)

    # the collection first: vectors are stored chunk by chunk as they are encoded, while Postgres writes
    name_exists = await _maybe(qdrant.collection_exists(name))
    if todo and (recreate or not name_exists):
        if recreate and name_exists:
            await say(f"{name} holds vectors of another encoder: rebuilding it")
            await _maybe(qdrant.delete_collection(name))
        await _maybe(qdrant.create_collection(
            name, vectors_config=models.VectorParams(size=TEXT_DIM, distance=models.Distance.COSINE)))

    async def embed_and_store() -> None:
        began, storing = time.perf_counter(), 0.0
        await say(f"embedding {len(todo)} items ({summary.vectors_reused} unchanged)")
        for start in range(0, len(todo), EMBED_CHUNK):
            part = todo[start:start + EMBED_CHUNK]
            vectors = await asyncio.to_thread(encoder.encode, [i.embedding_text for i, _pid, _h in part])
            t0 = time.perf_counter()
            for s0 in range(0, len(part), UPSERT_CHUNK):
                points = [models.PointStruct(id=pid, vector=vec.astype(float).tolist(),
                                             payload={"item_id": item.item_id, "text_hash": h,
                                                      "embedding_version": EXPORT_VERSION})
                          for (item, pid, h), vec in zip(part[s0:s0 + UPSERT_CHUNK], vectors[s0:s0 + UPSERT_CHUNK])]
                await _call(qdrant.upsert, name, points=points, wait=True)
            storing += time.perf_counter() - t0
            await say(f"embedded and stored {start + len(part)}/{len(todo)} item vectors in {name}")
        # both overlap the Postgres steps (encoding is CPU in threads, Postgres CPU in its server)
        summary.seconds["embed"] = round(time.perf_counter() - began - storing, 3)
        summary.seconds["vectors"] = round(storing, 3)

    task = asyncio.create_task(embed_and_store()) if todo else None
    summary.vectors_embedded = len(todo)
    try:
        users_with_new = await _write_postgres(pool, summary, catalogue_id, title, source, item_list, table,
                                               event_ids, say, lap)
    except BaseException:
        if task is not None:
            task.cancel()
        raise
    if task is not None:
        if not task.done():
            await say("waiting for the item vectors")
        await task
    lap(summary, "vectors_wait")  # what embedding and storing vectors added after the Postgres writes

    # 5. the catalogue says which encoder its collection holds; changed histories are invalidated ---------------------
    await pool.execute("UPDATE catalogues SET embedding_version = $2, imported_at = now() WHERE id = $1",
                       catalogue_id, EXPORT_VERSION)
    if redis is not None and users_with_new:
        try:
            pipe = redis.pipeline(transaction=False)
            for user in users_with_new:
                pipe.incr(store.history_version_key(catalogue_id, user))
            await _maybe(pipe.execute())
            summary.users_invalidated = len(users_with_new)
        except Exception as exc:  # noqa: BLE001 - the data is stored; cached lists expire on their own TTL
            await say(f"warning: could not bump {len(users_with_new)} users' history versions in Redis "
                      f"({exc.__class__.__name__}: {exc}); their cached recommendations stay until they expire")
    elif redis is not None:
        summary.users_invalidated = 0
    summary.seconds["total"] = round(time.perf_counter() - started, 3)
    await say("done: " + summary.format())
    return summary


async def _write_postgres(pool, summary: ImportSummary, catalogue_id: str, title: str, source, item_list, table,
                          event_ids: list[str], say, lap) -> list[str]:
    """Steps 3 and 4: items in one transaction, then interactions in another; returns the users with new rows."""
    # 3. items: one transaction ---------------------------------------------------------------------------------------
    await say(f"writing {len(item_list)} items")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO catalogues (id, title, source) VALUES ($1, $2, $3::text::jsonb)
               ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, source = EXCLUDED.source""",
            catalogue_id, title, json.dumps(dict(source or {}), default=str))
        await conn.execute(
            "CREATE TEMP TABLE _import_items (item_id text, title text, body text, categories text[], "
            "attributes text) ON COMMIT DROP")
        await conn.copy_records_to_table(
            "_import_items", columns=["item_id", "title", "body", "categories", "attributes"], timeout=LONG_STATEMENT_S,
            records=[(i.item_id, i.title, i.text, list(i.categories), json.dumps(i.attributes)) for i in item_list])
        status = await conn.execute(
            """INSERT INTO catalogue_items AS c (catalogue_id, item_id, title, body, categories, attributes)
               SELECT $1, item_id, title, body, categories, attributes::jsonb FROM _import_items
               ON CONFLICT (catalogue_id, item_id) DO UPDATE
                  SET title = EXCLUDED.title, body = EXCLUDED.body, categories = EXCLUDED.categories,
                      attributes = EXCLUDED.attributes
                WHERE (c.title, c.body, c.categories, c.attributes)
                      IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.body, EXCLUDED.categories, EXCLUDED.attributes)""",
            catalogue_id, timeout=LONG_STATEMENT_S)
        summary.items_written = int(status.rsplit(" ", 1)[-1])
        summary.items_total = await conn.fetchval(
            """UPDATE catalogues SET item_count = (SELECT count(*) FROM catalogue_items WHERE catalogue_id = $1)
                WHERE id = $1 RETURNING item_count""", catalogue_id)
    lap(summary, "items")

    # 4. interactions: one transaction ------------------------------------------------------------------------------
    users_with_new: list[str] = []
    if len(table):
        await say(f"writing {len(table)} interactions")
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "CREATE TEMP TABLE _import_interactions (ord bigint, event_id text, user_id text, item_id text, "
                "event_type text, weight real, occurred_us bigint) ON COMMIT DROP")
            occurred = table.occurred_us.tolist()
            weights = table.weights.tolist()
            n = len(table)
            for start in range(0, n, COPY_CHUNK):
                stop = min(start + COPY_CHUNK, n)
                records = zip(range(start, stop), event_ids[start:stop], table.user_ids[start:stop],
                              table.item_ids[start:stop], table.event_types[start:stop], weights[start:stop],
                              occurred[start:stop])
                await conn.copy_records_to_table(
                    "_import_interactions", records=records, timeout=LONG_STATEMENT_S,
                    columns=["ord", "event_id", "user_id", "item_id", "event_type", "weight", "occurred_us"])
                await say(f"copied {stop}/{n} interactions")
            await say("inserting (duplicates skipped)")
            rows = await conn.fetch(
                """WITH ins AS (
                       INSERT INTO catalogue_interactions
                              (event_id, catalogue_id, user_id, item_id, event_type, weight, occurred_at)
                       SELECT event_id, $1, user_id, item_id, event_type, weight,
                              timestamptz 'epoch' + occurred_us * interval '1 microsecond'
                         FROM _import_interactions ORDER BY ord
                       ON CONFLICT (event_id) DO NOTHING
                       RETURNING user_id)
                   SELECT user_id, count(*) AS n FROM ins GROUP BY user_id""",
                catalogue_id, timeout=LONG_STATEMENT_S)
            summary.interactions_inserted = sum(int(r["n"]) for r in rows)
            users_with_new = [r["user_id"] for r in rows]
            summary.interaction_total = await conn.fetchval(
                """UPDATE catalogues SET interaction_count = interaction_count + $2 WHERE id = $1
                   RETURNING interaction_count""", catalogue_id, summary.interactions_inserted)
    else:
        summary.interaction_total = await pool.fetchval(
            "SELECT interaction_count FROM catalogues WHERE id = $1", catalogue_id)
    summary.interactions_skipped = len(table) - summary.interactions_inserted
    lap(summary, "interactions")
    return users_with_new


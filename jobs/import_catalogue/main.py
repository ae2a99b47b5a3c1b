"""Cloud Run Job: import a catalogue (items, interactions, text embeddings) into Postgres and Qdrant.

    python -m jobs.import_catalogue.main --catalogue movielens-1m          # a named source (see --list)
    python -m jobs.import_catalogue.main --catalogue my-books --title "Books" \\
        --items items.csv --interactions interactions.parquet               # contract files (README: catalogue files)
    python -m jobs.import_catalogue.main --catalogue my-books --title "Books" --items items.csv \\
        --interactions live.csv --publish      # items imported, interactions published to `catalogue-interactions`
    python -m jobs.import_catalogue.main --list

Files: CSV or Parquet; a relative path that does not exist here is read from the datasets folder (settings
data_dir: CONCIERGE_DATA_DIR, /data in the cloud). Every run is recorded in catalogue_imports (running -> done with
its summary, or failed with the error). Re-running is safe: items are upserted, every interaction is stored once
(event ids), unchanged items are not re-embedded.

Exit status: 0 done, 2 bad input (the contract's errors, each with its row and field; an unknown source; missing
files), 1 anything else (the message says what to check).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

EXIT_BAD_INPUT = 2
PROGRESS_EVERY_S = 1.0
PUBLISH_BATCH = 500


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m jobs.import_catalogue.main",
                                description="Import a catalogue: a named source, or contract files.")
    p.add_argument("--catalogue", help="catalogue id (movielens-100k, movielens-1m, foodcom, or your own slug)")
    p.add_argument("--title", help="the catalogue's title (required with --items)")
    p.add_argument("--items", help="items file (CSV or Parquet): item_id, title[, text, categories, attributes]")
    p.add_argument("--interactions", help="interactions file (CSV or Parquet): user_id, item_id, timestamp"
                                          "[, event_type, weight, event_id]")
    p.add_argument("--publish", action="store_true",
                   help="import the items, then publish the interactions to the catalogue-interactions topic "
                        "(the interaction sink stores them) instead of writing them in bulk")
    p.add_argument("--import-id", help="the catalogue_imports row to record this run in (default: a new one)")
    p.add_argument("--requested-by", default=None, help="who asked (recorded in catalogue_imports)")
    p.add_argument("--list", action="store_true", help="list the named sources and the imported catalogues")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    return p


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _resolve(raw: str, data_dir: Path) -> Path:
    path = Path(raw)
    if path.exists() or path.is_absolute():
        return path
    return data_dir / path


class Recorder:
    """The catalogue_imports row of this run: running, progress (at most once a second), done or failed."""

    def __init__(self, pool, import_id: str, catalogue_id: str, source: dict, requested_by: str | None) -> None:
        self.pool, self.id, self.catalogue_id, self.source, self.requested_by = (pool, import_id, catalogue_id,
                                                                                 source, requested_by)
        self._last = 0.0
        self.enabled = True

    async def start(self) -> None:
        await self.pool.execute(
            """INSERT INTO catalogue_imports (id, catalogue_id, source, status, requested_by)
               VALUES ($1, $2, $3::text::jsonb, 'running', $4)
               ON CONFLICT (id) DO UPDATE SET status = 'running', source = EXCLUDED.source, error = NULL,
                                              summary = NULL, finished_at = NULL""",
            self.id, self.catalogue_id, json.dumps(self.source), self.requested_by)

    async def progress(self, message: str) -> None:
        _log(message)
        now = time.monotonic()
        if not self.enabled or now - self._last < PROGRESS_EVERY_S:
            return
        self._last = now
        await self.pool.execute(
            "UPDATE catalogue_imports SET progress = $2::text::jsonb WHERE id = $1", self.id,
            json.dumps({"message": message, "at": datetime.now(UTC).isoformat()}))

    async def done(self, summary: dict) -> None:
        await self.pool.execute(
            """UPDATE catalogue_imports SET status = 'done', summary = $2::text::jsonb, finished_at = now(),
                      progress = '{"message": "done"}'::jsonb WHERE id = $1""",
            self.id, json.dumps(summary, default=str))

    async def failed(self, error: str) -> None:
        await self.pool.execute(
            "UPDATE catalogue_imports SET status = 'failed', error = $2, finished_at = now() WHERE id = $1",
            self.id, error[:4000])


async def _publish(catalogue_id: str, table, recorder: Recorder) -> dict:
    """The file's interactions through the topic, PUBLISH_BATCH at a time, each batch acknowledged."""
    from shared.domains.catalogues.contract import from_micros
    from shared.domains.catalogues.interactions import publish_interaction_events_async

    n, published = len(table), 0
    ids = table.event_ids or [None] * n
    for start in range(0, n, PUBLISH_BATCH):
        stop = min(start + PUBLISH_BATCH, n)
        events = [{"user_id": table.user_ids[i], "item_id": table.item_ids[i],
                   "timestamp": from_micros(int(table.occurred_us[i])), "event_type": table.event_types[i],
                   "weight": float(table.weights[i]), **({"event_id": ids[i]} if ids[i] else {})}
                  for i in range(start, stop)]
        published += len(await publish_interaction_events_async(catalogue_id, events))
        await recorder.progress(f"[import {catalogue_id}] published {published}/{n} interactions")
    return {"interactions_published": published}


async def run(args: argparse.Namespace) -> dict:
    from shared.adapters.postgres import create_pool
    from shared.adapters.qdrant import get_async_qdrant
    from shared.adapters.redis_cache import get_async_redis
    from shared.domains.catalogues.contract import read_catalogue_files
    from shared.domains.catalogues.importer import import_catalogue
    from shared.domains.catalogues.sources import load_source
    from shared.settings import get_settings

    data_dir = get_settings().data_dir
    if args.items:
        items_path = _resolve(args.items, data_dir)
        inter_path = _resolve(args.interactions, data_dir) if args.interactions else None
        source = {"kind": "files", "items": str(items_path),
                  "interactions": str(inter_path) if inter_path else None, "has_time": True}
    else:
        source = {"kind": "named", "name": args.catalogue}
    pool = await create_pool(max_size=3)
    qdrant = get_async_qdrant()
    redis = get_async_redis()
    recorder = Recorder(pool, args.import_id or uuid.uuid4().hex, args.catalogue, source, args.requested_by)
    try:
        await recorder.start()
        try:
            if args.items:
                _log(f"[import {args.catalogue}] reading {items_path}" + (f" and {inter_path}" if inter_path else ""))
                existing = [r["item_id"] for r in await pool.fetch(
                    "SELECT item_id FROM catalogue_items WHERE catalogue_id = $1", args.catalogue)]
                # both files checked together (every problem reported at once), before anything is written
                items, table = read_catalogue_files(items_path, inter_path, existing)
                title = args.title
            else:
                _log(f"[import {args.catalogue}] reading the {args.catalogue} source under {data_dir}")
                data = load_source(args.catalogue)
                items, table, title, source = data.items, data.interactions, args.title or data.title, data.source
            summary = await import_catalogue(
                pool, qdrant, args.catalogue, title, items, None if args.publish else table,
                progress=recorder.progress, source=source, redis=redis)
            result = summary.as_dict()
            if args.publish and table is not None:
                result.update(await _publish(args.catalogue, table, recorder))
            result["import_id"] = recorder.id
            await recorder.done(result)
            return result
        except BaseException as exc:
            try:
                await recorder.failed(f"{type(exc).__name__}: {exc}")
            except Exception:  # noqa: BLE001 - the original error is the one to report
                pass
            raise
    finally:
        await pool.close()
        for client in (qdrant, redis):
            try:
                await client.close() if client is qdrant else await client.aclose()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass


def list_all() -> int:
    from shared.domains.catalogues.sources import SOURCES

    print("named sources (--catalogue NAME): " + ", ".join(sorted(SOURCES)))

    async def catalogues():
        from shared.adapters.postgres import create_pool
        from shared.domains.catalogues.store import list_catalogues

        pool = await create_pool(max_size=1)
        try:
            return await list_catalogues(pool)
        finally:
            await pool.close()

    try:
        rows = asyncio.run(catalogues())
    except Exception as exc:  # noqa: BLE001
        print(f"(imported catalogues unavailable: {type(exc).__name__}: {exc})")
        return 0
    for c in rows:
        print(f"  {c.id}: {c.title}: {c.item_count} items, {c.interaction_count} interactions, "
              f"embeddings {c.embedding_version or '-'}, imported {c.imported_at or '-'}")
    return 0


def _bad(message: str) -> int:
    print(f"import_catalogue: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        return list_all()
    if not args.catalogue:
        return _bad("--catalogue is required (a named source, or your catalogue's id with --items); see --list")
    if args.items and not args.title:
        return _bad("--title is required with --items (the catalogue's display title)")
    if args.interactions and not args.items:
        return _bad("--interactions needs --items too (the items the interactions refer to)")
    if args.publish and not args.interactions:
        return _bad("--publish needs --interactions (the events to publish)")

    from shared.domains.catalogues.contract import ContractError
    from shared.domains.catalogues.sources import SOURCES, UnknownSource
    from shared.engine.data.loaders import DatasetNotFound
    from shared.engine.embeddings.model_files import ModelNotExported

    try:
        from shared.domains.catalogues.contract import validate_catalogue_id

        validate_catalogue_id(args.catalogue)
    except ContractError as exc:
        return _bad(f"--catalogue: {exc.errors[0].message}")
    if not args.items and args.catalogue not in SOURCES:
        return _bad(f"{args.catalogue!r} is not a named source ({', '.join(sorted(SOURCES))}); to import your own "
                    "files give --title, --items and --interactions")
    try:
        result = asyncio.run(run(args))
    except ContractError as exc:
        lines = [str(e) for e in exc.errors[:50]]
        more = exc.total - len(lines)
        print(f"import_catalogue: {exc.total} problem(s); nothing was imported. Fix these rows and re-run:\n  "
              + "\n  ".join(lines) + (f"\n  ... and {more} more" if more > 0 else ""), file=sys.stderr)
        return EXIT_BAD_INPUT
    except UnknownSource as exc:
        return _bad(str(exc))
    except DatasetNotFound as exc:
        return _bad(str(exc))
    except ModelNotExported as exc:
        print(f"import_catalogue: {exc}; nothing was written", file=sys.stderr)
        return 1
    except Exception as exc:  # the job's last word: say what failed and what to do
        import asyncpg

        name = type(exc).__name__
        if isinstance(exc, asyncpg.UndefinedTableError):
            hint = "the catalogue tables are missing: run the migrate job first (python -m jobs.migrate.main)"
        elif isinstance(exc, (OSError, ConnectionError, asyncpg.PostgresConnectionError)):
            hint = ("a store is unreachable: check DATABASE_URL, QDRANT_URL and REDIS_URL (locally: "
                    "eval \"$(python -m emulators.cli env)\" after `make up`)")
        else:
            hint = ("Postgres holds either nothing or complete tables (items, then interactions, each in one "
                    "transaction); fix the cause and re-run: re-runs are idempotent")
        print(f"import_catalogue: failed with {name}: {exc}. {hint}", file=sys.stderr)
        return 1
    print(json.dumps(result, default=str) if args.json else _format(result))
    return 0


def _format(r: dict) -> str:
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in r["seconds"].items())
    text = (f"{r['catalogue_id']} ({r['title']}): {r['items']} items ({r['items_written']} new or changed), "
            f"{r['interactions']} interactions ({r['interactions_inserted']} inserted, {r['interactions_skipped']} "
            f"already stored); {r['vectors_embedded']} vectors embedded, {r['vectors_reused']} unchanged in "
            f"{r['collection']}; {steps}; import {r['import_id']}")
    if "interactions_published" in r:
        text += f"; {r['interactions_published']} interactions published to catalogue-interactions"
    return text


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

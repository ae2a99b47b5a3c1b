"""Cloud Run Job: one UTC day of behavioral_signals -> training-ready Parquet in the training-data bucket.

    python -m jobs.nightly_extract.main                    # yesterday (UTC); what the nightly schedule runs
    python -m jobs.nightly_extract.main --date 2025-06-01  # any day, e.g. to backfill or re-run

Writes gs://<project>-training-data/signals/date=YYYY-MM-DD/part-00000.parquet (schema in
shared.engine.events.export). Idempotent: a re-run overwrites the part and removes anything else in that
partition, and the same rows always give the same bytes. An empty day still gets a file (with the schema), so a
reader can tell "no signals" from "not exported".
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import time
from datetime import date, datetime, timedelta, timezone

from jobs.cli import iso_date


def _log(msg: str) -> None:
    print(f"nightly_extract: {msg}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m jobs.nightly_extract.main",
                                     description="Export one UTC day of behavioural signals to Parquet.")
    parser.add_argument("--date", type=iso_date, default=None, help="the UTC day to export (default: yesterday)")
    args = parser.parse_args(argv)
    today = datetime.now(timezone.utc).date()
    if args.date is None:
        args.date = today - timedelta(days=1)
    if args.date > today:
        parser.error(f"--date {args.date} is in the future; nothing can have been recorded yet")
    return args


async def _export(day: date) -> tuple[bytes, int]:
    from shared.adapters.postgres import create_pool
    from shared.engine.events.export import export_day

    pool = await create_pool(min_size=1, max_size=1)
    try:
        return await export_day(pool, day)
    finally:
        await pool.close()


def run(day: date) -> dict:
    from shared.adapters import storage
    from shared.engine.events.export import BUCKET, part_path, partition_path

    started = time.monotonic()
    _log(f"exporting signals of {day} (UTC)")
    data, rows = asyncio.run(_export(day))
    _log(f"{rows} rows read, {len(data)} bytes of Parquet")
    target = part_path(day)
    uri = storage.write_bytes(BUCKET, target, data, content_type="application/vnd.apache.parquet")
    stale = [p for p in storage.list_paths(BUCKET, partition_path(day)) if p != target]
    for path in stale:
        storage.get_storage().bucket(storage.bucket_name(BUCKET)).blob(path).delete()
    summary = {"date": day.isoformat(), "rows": rows, "bytes": len(data), "uri": uri,
               "sha256": hashlib.sha256(data).hexdigest(), "stale_removed": len(stale),
               "seconds": round(time.monotonic() - started, 2)}
    _log(f"wrote {uri} ({rows} rows, sha256 {summary['sha256'][:12]}); removed {len(stale)} stale file(s); "
         f"{summary['seconds']}s")
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if int(os.environ.get("CLOUD_RUN_TASK_INDEX", "0")) > 0:
        _log("one partition per day is written by task 0; this task has nothing to do")
        return 0
    try:
        run(args.date)
    except Exception as exc:  # noqa: BLE001 - a job reports and exits non-zero
        _log(f"FAILED: {exc.__class__.__name__}: {exc}")
        _log("check DATABASE_URL and the storage settings (STORAGE_EMULATOR_HOST locally), then re-run with "
             f"--date {args.date}; a re-run replaces the partition")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

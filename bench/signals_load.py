"""Signal ingestion under load, through the local stack's gateway: zero lost, zero duplicated, and how fast.

Each repeat sends fresh signals (bounded concurrency, loopback only) through gateway -> signals function ->
Pub/Sub -> signal sink -> Postgres, waits until the queue has drained, and checks that the rows in Postgres are
exactly the accepted signals (none missing, none extra) and that users.signal_count grew by exactly that much.
A share of the requests are sent twice with the same event id (a client retry), which must not count twice.

Modes, each repeated:
- single: 500 requests of one signal each, 50 in flight;
- batched: the same 500 signals as 10 requests of 50, 10 in flight.
Baseline measured in the same run: the sink's own insert (insert_signal) called directly, 5 at a time (the sink's
pool size): the ceiling the pipeline can approach.

Throughput: accepted signals / seconds from the first request to the last row stored ("sustained", end to end),
and accepted signals / seconds until the last 202 ("accept"). Results: bench/results/signals_load.json.

Run: .venv/bin/python bench/signals_load.py [--signals 500] [--repeats 3]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _common import summarise, write_result

from emulators.procs import ProcessTable
from emulators.stack import Stack, free_port

N_USERS = 50
N_NODES = 100


async def seed(dsn: str, tag: str) -> tuple[list[str], list[str]]:
    import asyncpg

    users = [f"bench-{tag}-u{i}" for i in range(N_USERS)]
    nodes = [f"bench-{tag}-n{i}" for i in range(N_NODES)]
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("INSERT INTO cities (id, name) VALUES ($1, $1)", f"bench-{tag}")
            await conn.executemany("INSERT INTO activity_nodes (id, city_id, name) VALUES ($1, $2, $1)",
                                   [(n, f"bench-{tag}") for n in nodes])
            await conn.executemany("INSERT INTO users (id) VALUES ($1)", [(u,) for u in users])
            await conn.executemany(
                "INSERT INTO trips (id, user_id, city_id, start_date, end_date) "
                "VALUES ($1, $2, $3, '2025-06-01', '2025-06-04')",
                [(f"trip-{u}", u, f"bench-{tag}") for u in users])
    finally:
        await conn.close()
    return users, nodes


def make_signals(users: list[str], nodes: list[str], n: int, rng: random.Random) -> list[tuple[str, dict]]:
    kinds = ["slot_view", "slot_accept", "slot_skip", "slot_swap", "thumbs_up", "pivot_dismiss"]
    out = []
    for _ in range(n):
        user = rng.choice(users)
        out.append((user, {
            "event_id": f"evt-{uuid.uuid4().hex}", "signal_type": rng.choice(kinds),
            "activity_node_id": rng.choice(nodes), "trip_id": f"trip-{user}",
            "context": {"time_to_action_ms": rng.randrange(100, 20_000), "day_of_trip": rng.randrange(1, 4),
                        "day_part": rng.choice(["morning", "afternoon", "evening"]), "group_size": 1,
                        "candidates": [{"id": c, "score": round(rng.random(), 3)} for c in rng.sample(nodes, 20)]},
        }))
    return out


async def counts(dsn: str, users: list[str], event_ids: list[str]) -> tuple[int, int, int]:
    """(rows for these event ids, all rows of these users, sum of their signal_count)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        ours = await conn.fetchval("SELECT count(*) FROM behavioral_signals WHERE event_id = ANY($1::text[])",
                                   event_ids)
        rows = await conn.fetchval("SELECT count(*) FROM behavioral_signals WHERE user_id = ANY($1::text[])", users)
        total = await conn.fetchval("SELECT coalesce(sum(signal_count), 0) FROM users WHERE id = ANY($1::text[])",
                                    users)
        return ours, rows, total
    finally:
        await conn.close()


async def send_all(gateway: str, requests: list[tuple[str, dict]], concurrency: int, retry_share: float,
                   rng: random.Random) -> dict:
    import httpx

    sem = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    accepted: set[str] = set()
    failures = 0
    resent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        async def one(user: str, body: dict, repeat: bool) -> None:
            nonlocal failures, resent
            async with sem:
                for attempt in range(4):
                    t0 = time.perf_counter()
                    try:
                        resp = await client.post(f"{gateway}/v1/signals", json=body,
                                                 headers={"Authorization": f"Bearer {user}"})
                    except httpx.HTTPError:
                        resp = None
                    latencies.append(time.perf_counter() - t0)
                    if resp is not None and resp.status_code in (202, 207):
                        data = resp.json()
                        ids = [r["event_id"] for r in data["results"] if r["status"] == "accepted"] \
                            if "results" in data else [data["event_id"]]
                        accepted.update(ids)
                        if repeat:  # the client "never saw" the answer and sends the same again
                            resent += 1
                            try:
                                await client.post(f"{gateway}/v1/signals", json=body,
                                                  headers={"Authorization": f"Bearer {user}"})
                            except httpx.HTTPError:
                                pass  # the copy is a test of idempotence; the original is already accepted
                        return
                    await asyncio.sleep(0.2 * (attempt + 1))
                failures += 1

        started = time.perf_counter()
        await asyncio.gather(*[one(u, b, rng.random() < retry_share) for u, b in requests])
        accept_s = time.perf_counter() - started
    return {"accepted": accepted, "latencies": latencies, "failures": failures, "resent": resent,
            "started": started, "accept_s": accept_s}


def run_mode(stack: Stack, dsn: str, users, nodes, signals, mode: str, concurrency: int, batch: int,
             rng: random.Random) -> dict:
    event_ids = [b["event_id"] for _, b in signals]
    before = asyncio.run(counts(dsn, users, event_ids))
    if batch > 1:
        by_user: dict[str, list[dict]] = {}
        for user, body in signals:
            by_user.setdefault(user, []).append(body)
        requests = []  # a batch carries one user's signals (the caller's own)
        for user, bodies in by_user.items():
            for i in range(0, len(bodies), batch):
                requests.append((user, {"signals": bodies[i:i + batch]}))
    else:
        requests = signals
    sent = asyncio.run(send_all(stack.gateway_url, requests, concurrency, 0.05, rng))
    accepted = sent["accepted"]
    deadline = time.perf_counter() + 180
    while True:
        ours, rows, total = asyncio.run(counts(dsn, users, event_ids))
        if ours >= len(accepted) or time.perf_counter() > deadline:
            break
        time.sleep(0.05)
    drained_s = time.perf_counter() - sent["started"]
    time.sleep(2.0)  # late redeliveries or resent copies would show up as extra rows now
    ours, rows, total = asyncio.run(counts(dsn, users, event_ids))
    lost = len(accepted) - min(ours, len(accepted))
    duplicated = (rows - before[1]) - len(accepted)
    count_drift = (total - before[2]) - len(accepted)
    result = {
        "mode": mode, "requests": len(requests), "signals": len(signals), "accepted": len(accepted),
        "client_failures": sent["failures"], "resent_same_event_id": sent["resent"],
        "lost": lost, "duplicated": max(duplicated, 0), "signal_count_drift": count_drift,
        "accept_s": round(sent["accept_s"], 3), "drained_s": round(drained_s, 3),
        "accept_sps": round(len(accepted) / sent["accept_s"], 1),
        "sustained_sps": round(len(accepted) / drained_s, 1),
        "request_latency_s": {k: round(v, 4) for k, v in summarise(sent["latencies"]).items()},
    }
    print(f"  {mode}: {len(accepted)} accepted in {result['accept_s']}s, stored in {result['drained_s']}s "
          f"-> {result['sustained_sps']} signals/s; lost {lost}, duplicated {result['duplicated']}, "
          f"signal_count drift {count_drift}")
    return result


async def direct_baseline(dsn: str, users, nodes, n: int, rng: random.Random) -> dict:
    """The sink's insert itself, 5 at a time on one pool: what Postgres alone allows."""
    from shared.adapters.postgres import create_pool
    from shared.engine.events.schema import SignalRecord
    from shared.engine.events.sink import insert_signal

    records = []
    for user, body in make_signals(users, nodes, n, rng):
        records.append(SignalRecord.model_validate({**body, "user_id": user, "weight": 1.0}))
    pool = await create_pool(dsn, min_size=5, max_size=5)
    sem = asyncio.Semaphore(5)

    async def one(rec):
        async with sem:
            await insert_signal(pool, rec)

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*[one(r) for r in records])
        elapsed = time.perf_counter() - t0
    finally:
        await pool.close()
    return {"signals": n, "seconds": round(elapsed, 3), "sps": round(n / elapsed, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signals", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    os.environ.setdefault("SIGNAL_PSEUDONYM_SALT", "bench-" + uuid.uuid4().hex)
    state = Path(tempfile.mkdtemp(prefix="concierge-signals-bench-"))
    pg_table = ProcessTable(state / "pg")
    stack = None
    try:
        from emulators.postgres import start_postgres
        from shared.db.migrate import apply_migrations
        from shared.settings import get_settings

        print("starting Postgres and the local stack ...")
        dsn = start_postgres(pg_table, state / "pg" / "data", free_port())
        asyncio.run(apply_migrations(dsn, log=lambda _m: None))
        os.environ["DATABASE_URL"] = dsn
        get_settings.cache_clear()
        stack = Stack(state_dir=state / "stack", dynamic_ports=True, scheduler=False, progress=lambda _m: None)
        stack.up()
        stack.export()
        users, nodes = asyncio.run(seed(dsn, uuid.uuid4().hex[:6]))

        warm = make_signals(users, nodes, 20, rng)  # first requests pay for pools and imports
        run_mode(stack, dsn, users, nodes, warm, "warm-up", 10, 1, rng)

        baseline = [asyncio.run(direct_baseline(dsn, users, nodes, args.signals, rng)) for _ in range(args.repeats)]
        print(f"  baseline direct insert: median {statistics.median(b['sps'] for b in baseline)} signals/s")
        single, batched = [], []
        for i in range(args.repeats):
            print(f"repeat {i + 1}/{args.repeats}")
            single.append(run_mode(stack, dsn, users, nodes, make_signals(users, nodes, args.signals, rng),
                                   "single", args.concurrency, 1, rng))
            batched.append(run_mode(stack, dsn, users, nodes, make_signals(users, nodes, args.signals, rng),
                                    "batched", max(1, args.concurrency // 5), args.batch, rng))
    finally:
        if stack is not None:
            stack.down(quiet=True)
        pg_table.stop_all()
        shutil.rmtree(state, ignore_errors=True)

    base_sps = statistics.median(b["sps"] for b in baseline)

    def med(runs, key):
        return statistics.median(r[key] for r in runs)

    lost = sum(r["lost"] for r in single + batched)
    duplicated = sum(r["duplicated"] for r in single + batched)
    drift = sum(abs(r["signal_count_drift"]) for r in single + batched)
    write_result("signals_load", {
        "config": {"signals_per_run": args.signals, "concurrency_single": args.concurrency,
                   "batch_size": args.batch, "concurrency_batched": max(1, args.concurrency // 5),
                   "repeats": args.repeats, "users": N_USERS, "venues": N_NODES, "resend_share": 0.05,
                   "path": "gateway -> signals -> Pub/Sub emulator -> signal_sink -> Postgres (all loopback)"},
        "baseline_direct_insert": {"runs": baseline, "median_sps": base_sps},
        "single": {"runs": single, "median_sustained_sps": med(single, "sustained_sps"),
                   "median_accept_sps": med(single, "accept_sps")},
        "batched": {"runs": batched, "median_sustained_sps": med(batched, "sustained_sps"),
                    "median_accept_sps": med(batched, "accept_sps")},
        "ratios": {"single_vs_direct_insert": round(med(single, "sustained_sps") / base_sps, 3),
                   "batched_vs_direct_insert": round(med(batched, "sustained_sps") / base_sps, 3),
                   "batched_vs_single": round(med(batched, "sustained_sps") / med(single, "sustained_sps"), 3)},
        "lost": lost, "duplicated": duplicated, "signal_count_drift": drift,
    })
    ok = lost == 0 and duplicated == 0 and drift == 0
    print("OK: 0 lost, 0 duplicated" if ok else f"FAILED: lost {lost}, duplicated {duplicated}, drift {drift}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Recommendations benchmark: offline quality (bench/recs_quality.py) and serving latency, for MovieLens 1M and Food.com.

    .venv/bin/python bench/recs_bench.py --prepare      # a stack of its own: import, train, promote, measure
    eval "$(.venv/bin/python -m emulators.cli env)"    # or a running stack (make up) ...
    .venv/bin/python bench/recs_bench.py --gateway "$CONCIERGE_GATEWAY_URL" [--prepare] [--skip-quality]

Latency, per catalogue, k = 10:
- in-function: the domain call the function makes (shared.domains.catalogues.recommend.recommend) timed in this
  process against the stack's Postgres, Redis and Qdrant, one at a time and 8 in flight; "uncached" asks for
  users not asked before in the run
  (a cache miss: history read, model scoring, top-k, cache write), "cached" asks again for users just asked (a
  process-local hit: one Redis round trip for the history version); batch: 100 distinct users in one call;
- through the gateway: the same requests over HTTP, at concurrency 1 and 8.
p50/p95/p99 of each; the same run measures all of them, so ratios between them are like for like.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import write_result  # noqa: E402

CATALOGUES = {"movielens-1m": "movielens-1m", "foodcom": "foodcom"}
N_UNCACHED, N_CACHED, N_BATCH = 300, 1000, 20


def pct(samples: list[float]) -> dict:
    s = sorted(samples)

    def at(q: float) -> float:
        return round(s[min(len(s) - 1, int(round(q * (len(s) - 1))))], 3)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "n": len(s)}


def run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def prepare(catalogue: str) -> None:
    """Import the catalogue, train two-tower and ALS on what was stored, and promote both (manually, with the
    reason recorded: the benchmark measures serving, the gate is measured by bench/recs_quality.py)."""
    py = sys.executable
    run([py, "-m", "jobs.import_catalogue.main", "--catalogue", catalogue])
    for ranker in ("als", "two_tower"):
        run([py, "-m", "jobs.train.main", "--ranker", ranker, "--catalogue", catalogue])
    asyncio.run(_promote_latest(catalogue))


async def _promote_latest(catalogue: str) -> None:
    from shared.adapters.postgres import create_pool
    from shared.engine.registry.store import list_models, promote_manually

    pool = await create_pool(max_size=1)
    try:
        for kind in ("als", "two_tower"):
            name = f"recs-{catalogue}-{kind}"
            rows = await list_models(pool, name, ("candidate",))
            if rows:
                latest = max(rows, key=lambda r: r.created_at)
                await promote_manually(pool, name, latest.version, "bench/recs_bench.py --prepare", "bench")
                print(f"promoted {latest.served_by}")
    finally:
        await pool.close()


async def _users(catalogue: str, n: int) -> list[str]:
    from shared.adapters.postgres import create_pool

    pool = await create_pool(max_size=1)
    try:
        rows = await pool.fetch("SELECT DISTINCT user_id FROM catalogue_interactions WHERE catalogue_id = $1", catalogue)
    finally:
        await pool.close()
    users = sorted(r["user_id"] for r in rows)
    random.Random(7).shuffle(users)
    return users[:n]


async def in_function(catalogue: str, users: list[str]) -> dict:
    from shared.adapters.postgres import create_pool
    from shared.adapters.qdrant import get_async_qdrant
    from shared.adapters.redis_cache import get_async_redis
    from shared.domains.catalogues.recommend import Deps, recommend, recommend_batch
    from shared.domains.catalogues.result_cache import RESULTS
    from shared.domains.catalogues.schemas import BatchRecommendRequest, RecommendRequest

    pool = await create_pool(max_size=8)
    redis = get_async_redis()
    try:
        async with pool.acquire() as conn:
            deps = Deps(conn, get_async_qdrant(), redis)
            nonce = f"{time.time_ns()}"  # a filter no earlier run used: every first request of this run misses
            req = lambda u: RecommendRequest(user_id=u, k=10, filters={"exclude_item_ids": [nonce]})  # noqa: E731
            await recommend(deps, catalogue, req(users[0]))  # loads the models once, outside the timings
            uncached, served = [], {}
            for u in users[1:N_UNCACHED + 1]:
                t = time.perf_counter()
                answer = await recommend(deps, catalogue, req(u))
                uncached.append((time.perf_counter() - t) * 1000)
                assert not answer["cache"]["hit"]
                served[answer["served_by"]] = served.get(answer["served_by"], 0) + 1
            cached, layers = [], {}
            hot = users[1:51]
            for j in range(N_CACHED):
                t = time.perf_counter()
                answer = await recommend(deps, catalogue, req(hot[j % len(hot)]))
                cached.append((time.perf_counter() - t) * 1000)
                layers[answer["cache"]["layer"]] = layers.get(answer["cache"]["layer"], 0) + 1
            RESULTS.clear_local()
            redis_hits = []
            for u in hot:
                t = time.perf_counter()
                answer = await recommend(deps, catalogue, req(u))
                redis_hits.append((time.perf_counter() - t) * 1000)
                assert answer["cache"]["layer"] == "redis"
            batch = []
            pool_users = users[N_UNCACHED + 1:]
            for j in range(N_BATCH):
                group = pool_users[(j * 100) % max(1, len(pool_users) - 100):][:100]
                t = time.perf_counter()
                out = await recommend_batch(deps, catalogue, BatchRecommendRequest(
                    user_ids=group, k=10, filters={"exclude_item_ids": [nonce, str(j)]}))
                batch.append((time.perf_counter() - t) * 1000)
                assert len(out["results"]) == len(group)
        concurrent = await _in_function_concurrent(pool, redis, catalogue, users[N_UNCACHED + 1:], nonce, 8)
    finally:
        await pool.close()
    return {"uncached_ms": pct(uncached), "served_by_uncached": served, "cached_process_ms": pct(cached),
            "cache_layers": layers, "cached_redis_ms": pct(redis_hits), "batch_100_users_ms": pct(batch),
            "concurrency_8": concurrent}


async def _in_function_concurrent(pool, redis, catalogue: str, users: list[str], nonce: str, n: int) -> dict:
    """The same domain call from n concurrent tasks (each with its own connection), as n requests in flight in
    one instance would make it: uncached (users not asked before with this filter), then cached (asked again)."""
    from shared.adapters.qdrant import get_async_qdrant
    from shared.domains.catalogues.recommend import Deps, recommend
    from shared.domains.catalogues.schemas import RecommendRequest

    async def timed(user: str, out: list[float]) -> None:
        async with pool.acquire() as conn:
            t = time.perf_counter()
            await recommend(Deps(conn, get_async_qdrant(), redis),
                            catalogue, RecommendRequest(user_id=user, k=10, filters={"exclude_item_ids": [nonce, "c8"]}))
            out.append((time.perf_counter() - t) * 1000)

    async def run(batch: list[str]) -> list[float]:
        out: list[float] = []
        for i in range(0, len(batch), n):
            await asyncio.gather(*(timed(u, out) for u in batch[i:i + n]))
        return out

    group = users[:200]
    return {"uncached_ms": pct(await run(group)), "cached_ms": pct(await run(group * 2))}


def through_gateway(catalogue: str, users: list[str], concurrency: int) -> dict:
    import httpx

    gateway = os.environ["CONCIERGE_GATEWAY_URL"]
    url = f"{gateway}/v1/catalogues/{catalogue}/recommendations"
    nonce = f"gw{time.time_ns()}"

    def call(client, user):
        t = time.perf_counter()
        r = client.post(url, json={"user_id": user, "k": 10, "filters": {"exclude_item_ids": [nonce]}},
                        headers={"Authorization": f"Bearer bench-{user}"})
        assert r.status_code == 200, r.text
        return (time.perf_counter() - t) * 1000, r.json()["cache"]["hit"]

    with httpx.Client(timeout=30) as client:
        call(client, users[0])
        with ThreadPoolExecutor(concurrency) as ex:
            first = list(ex.map(lambda u: call(client, u), users[1:201]))
            again = list(ex.map(lambda u: call(client, u), users[1:201] * 2))
    return {"uncached_ms": pct([ms for ms, hit in first]), "uncached_hits": sum(h for _, h in first),
            "cached_ms": pct([ms for ms, hit in again]), "cached_hits": sum(h for _, h in again)}


def metrics_sample(catalogue: str) -> dict:
    import httpx

    r = httpx.get(f"{os.environ['CONCIERGE_GATEWAY_URL']}/v1/catalogues/{catalogue}/metrics",
                  headers={"Authorization": "Bearer bench"}, timeout=10)
    lines = [line for line in r.text.splitlines()
             if line.startswith(("recs_cache_lookups_total", "recs_lists_served_total", "recs_fallbacks_total"))
             and f'catalogue="{catalogue}"' in line]
    return {"status": r.status_code, "series": lines}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--catalogues", default=",".join(CATALOGUES))
    ap.add_argument("--gateway", help="use a running stack (its env exported); default: start one for the run")
    ap.add_argument("--prepare", action="store_true", help="import, train and promote first")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--quick", action="store_true", help="small quality grids")
    ap.add_argument("--quality-from", metavar="JSON", help="take the quality figures from a finished "
                    "`python bench/recs_quality.py` run (its file, e.g. bench/results/recs_quality.json) instead of "
                    "measuring them again; recorded with that run's time and command")
    args = ap.parse_args(argv)
    cats = [c for c in args.catalogues.split(",") if c]
    stack = None
    if not args.gateway:
        import tempfile

        from _common import forget_running_stack, lift_rate_limits
        from emulators.stack import Stack

        forget_running_stack()
        lift_rate_limits()
        stack = Stack(state_dir=Path(tempfile.mkdtemp(prefix="recs-bench-")), dynamic_ports=True, scheduler=False)
        stack.up()
        stack.export()
        args.prepare = True  # a new stack has no catalogues yet
    try:
        return _run(args, cats)
    finally:
        if stack is not None:
            stack.down(quiet=True)


def _run(args, cats: list[str]) -> int:
    if args.prepare:
        for c in cats:
            prepare(c)
    out: dict = {"k": 10, "latency": {}, "targets": {}}
    for c in cats:
        users = asyncio.run(_users(c, N_UNCACHED + 1 + 100 * N_BATCH // 5))
        print(f"[{c}] in-function latency ...", flush=True)
        inf = asyncio.run(in_function(c, users))
        print(f"[{c}] gateway latency ...", flush=True)
        gw = {f"concurrency_{n}": through_gateway(c, users[::-1], n) for n in (1, 8)}
        out["latency"][c] = {"in_function": inf, "gateway": gw, "metrics_after_load": metrics_sample(c)}
        print(json.dumps(out["latency"][c], indent=1)[:3000], flush=True)
    ml = out["latency"].get("movielens-1m", {}).get("in_function")
    if ml:
        out["targets"] = {
            "uncached_in_function_p99_ms<=20": ml["uncached_ms"]["p99"] <= 20,
            "cached_server_side_p99_ms<=1": ml["cached_process_ms"]["p99"] <= 1,
            "batch_100_users_ms<=300": ml["batch_100_users_ms"]["p99"] <= 300,
        }
    if args.quality_from:
        ran = json.loads(Path(args.quality_from).read_text())
        out["quality"] = {"from": {"file": args.quality_from, "measured_at": ran.get("measured_at"),
                                   "command": ran.get("command")}, "datasets": ran["datasets"]}
    elif not args.skip_quality:
        from recs_quality import measure_quality

        out["quality"] = measure_quality(["movielens-1m-implicit", "foodcom-sample"], quick=args.quick)
    write_result("recs_bench", out)
    print(json.dumps(out["targets"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

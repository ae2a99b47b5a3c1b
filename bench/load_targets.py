"""The seed's three load targets on this machine, through the local gateway of a stack of its own:

- trips:   50 concurrent POST /v1/trips (distinct travellers, three tag profiles, so requests meet both cold
           rankings and cache hits, as a burst of real users would): p95 < 8 s;
- swap:    200 concurrent PATCH /v1/trips/{id}/slots/{slot} over 20 planned trips: p95 < 2 s;
- signals: 500 concurrent POST /v1/signals (one signal each, 5% resent with the same event id): 0 lost,
           0 duplicated once the sink has drained (bench/signals_load.py's measure).

Baseline in the same run: GET /v1/health/live at the same concurrency, the fixed cost of the HTTP hops on this
machine (2 cores: the client, the gateway, every function and every stand-in share them). Each target is run
`--repeats` times; the figures are medians over the repeats, with every run's p95 kept.

Run: .venv/bin/python bench/load_targets.py [--repeats 3] [--limit 400]   -> bench/results/load_targets.json
(Seattle is seeded from the repository's sources first, at most --limit venues.)
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from _common import REPO_ROOT, forget_running_stack, lift_rate_limits, summarise, write_result
from signals_load import make_signals, run_mode, seed

from emulators.stack import Stack

CITY = "seattle"
TAGS = [
    {"food": ["ramen", "coffee"], "pace": "slow"},
    {"interests": ["hiking", "parks", "views"], "pace": "moderate"},
    {"interests": ["museums", "art", "live_music"], "pace": "slow"},
]
SWAP_TRIPS = 40   # 600+ slots, so 200 in flight rarely meet on one slot and its fallbacks last the run
TARGETS = {"trips": {"concurrency": 50, "p95_s": 8.0}, "swap": {"concurrency": 200, "p95_s": 2.0},
           "signals": {"concurrency": 500, "lost": 0, "duplicated": 0}}


def _auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {user}"}


async def _burst(gateway: str, calls: list[tuple[str, str, str, dict | None]], concurrency: int) -> dict:
    """Send every (method, path, user, body) with `concurrency` in flight; latencies and status counts."""
    sem = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    bodies: list[dict] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=gateway, timeout=120, limits=limits) as client:
        async def one(method: str, path: str, user: str, body: dict | None) -> None:
            async with sem:
                t0 = time.perf_counter()
                try:
                    resp = await client.request(method, path, json=body, headers=_auth(user))
                    key = str(resp.status_code)
                    if resp.status_code < 300 and "json" in resp.headers.get("content-type", ""):
                        bodies.append(resp.json())
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                latencies.append(time.perf_counter() - t0)
                statuses[key] = statuses.get(key, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(one(*c) for c in calls))
        wall = time.perf_counter() - started
    return {"latency_s": {k: round(v, 3) for k, v in summarise(latencies).items()}, "statuses": statuses,
            "wall_s": round(wall, 2), "bodies": bodies}


def _trip_calls(n: int, tag: str) -> list[tuple[str, str, str, dict]]:
    return [("POST", "/v1/trips", f"load-{tag}-t{i}",
             {"city": CITY, "start_date": "2031-07-01", "end_date": "2031-07-03", "tags": TAGS[i % 3]})
            for i in range(n)]


def _swap_calls(trips: list[dict], n: int, rng: random.Random) -> list[tuple[str, str, str, dict]]:
    calls = []
    for _ in range(n):
        trip = rng.choice(trips)
        slot = rng.choice([s for d in trip["days"] for s in d["slots"]])
        calls.append(("PATCH", f"/v1/trips/{trip['trip_id']}/slots/{slot['slot_id']}", trip["_user"], {}))
    return calls


def _seed(stack: Stack, limit: int) -> None:
    print(f"seeding {CITY} (at most {limit} venues) ...", flush=True)
    subprocess.run([sys.executable, "-m", "jobs.seed_city.main", "--city", CITY, "--limit", str(limit)],
                   env={**os.environ, **stack.env}, cwd=REPO_ROOT, check=True, capture_output=True)


def _verdict_latency(runs: list[dict], target: dict, answers: tuple[str, ...] = ()) -> dict:
    """`answers`: statuses that are a correct answer besides 2xx (a swap of a slot with no alternative left is a
    409: repeated swaps of one slot use up its fallbacks). Anything else (5xx, 404, a dropped connection) fails."""
    p95 = statistics.median(r["latency_s"]["p95"] for r in runs)
    errors = sum(n for r in runs for k, n in r["statuses"].items() if not k.startswith("2") and k not in answers)
    return {"p50_s": statistics.median(r["latency_s"]["median"] for r in runs), "p95_s": p95,
            "p95_per_run": [r["latency_s"]["p95"] for r in runs], "errors": errors,
            "statuses": [r["statuses"] for r in runs],
            "target_p95_s": target["p95_s"], "met": p95 < target["p95_s"] and errors == 0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, default=400, help="venues to seed Seattle with")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    lift_rate_limits()  # the targets are about capacity; the per-user limits would answer 429 first
    forget_running_stack()
    os.environ.setdefault("SIGNAL_PSEUDONYM_SALT", "bench-" + uuid.uuid4().hex)
    state = Path(tempfile.mkdtemp(prefix="concierge-load-"))
    stack = Stack(state_dir=state, dynamic_ports=True, scheduler=False, progress=lambda _m: None)
    out: dict = {"targets": TARGETS, "runs": {"baseline": [], "trips": [], "swap": [], "signals": []}}
    try:
        stack.up()
        stack.export()
        _seed(stack, args.limit)
        gw = stack.gateway_url
        asyncio.run(_burst(gw, _trip_calls(6, "warm"), 3))  # first requests pay for imports and pools
        planned = asyncio.run(_burst(gw, _trip_calls(SWAP_TRIPS, "swap"), 5))["bodies"]
        for trip in planned:  # bodies come back in completion order: the owner is the member marked `you`
            trip["_user"] = next(m["user_id"] for m in trip["members"] if m["you"])
        planned = [t for t in planned if any(d["slots"] for d in t["days"])]
        users, nodes = asyncio.run(seed(stack.env["DATABASE_URL"], uuid.uuid4().hex[:6]))
        for r in range(args.repeats):
            print(f"repeat {r + 1}/{args.repeats}", flush=True)
            live = [("GET", "/v1/health/live", "load-baseline", None)] * 200
            base = asyncio.run(_burst(gw, live, TARGETS["swap"]["concurrency"]))
            trips = asyncio.run(_burst(gw, _trip_calls(TARGETS["trips"]["concurrency"], f"r{r}"),
                                       TARGETS["trips"]["concurrency"]))
            swaps = asyncio.run(_burst(gw, _swap_calls(planned, 2 * TARGETS["swap"]["concurrency"], rng),
                                       TARGETS["swap"]["concurrency"]))
            signals = run_mode(stack, stack.env["DATABASE_URL"], users, nodes,
                               make_signals(users, nodes, TARGETS["signals"]["concurrency"], rng), "single",
                               TARGETS["signals"]["concurrency"], 1, rng)
            cache_hits = sum(1 for b in trips.pop("bodies") if (b.get("cache") or {}).get("hit"))
            trips["cache_hits"] = cache_hits
            swaps.pop("bodies")
            base.pop("bodies")
            for name, run in (("baseline", base), ("trips", trips), ("swap", swaps), ("signals", signals)):
                out["runs"][name].append(run)
            print(f"  live p95 {base['latency_s']['p95']}s | trips p95 {trips['latency_s']['p95']}s "
                  f"{trips['statuses']} | swap p95 {swaps['latency_s']['p95']}s {swaps['statuses']} | "
                  f"signals lost {signals['lost']} duplicated {signals['duplicated']}", flush=True)
    finally:
        stack.down(quiet=True)
        shutil.rmtree(state, ignore_errors=True)

    runs = out["runs"]
    base_p95 = statistics.median(r["latency_s"]["p95"] for r in runs["baseline"])
    summary = {"baseline_live_p95_s": base_p95,
               "trips": _verdict_latency(runs["trips"], TARGETS["trips"]),
               "swap": _verdict_latency(runs["swap"], TARGETS["swap"], answers=("409",))}
    for name in ("trips", "swap"):
        summary[name]["ratio_p95_to_baseline"] = round(summary[name]["p95_s"] / base_p95, 1) if base_p95 else None
    lost = sum(r["lost"] for r in runs["signals"])
    duplicated = sum(r["duplicated"] for r in runs["signals"])
    summary["signals"] = {"lost": lost, "duplicated": duplicated, "client_failures":
                          sum(r["client_failures"] for r in runs["signals"]),
                          "p95_s": statistics.median(r["request_latency_s"]["p95"] for r in runs["signals"]),
                          "met": lost == 0 and duplicated == 0}
    write_result("load_targets", {"city": CITY, "venue_limit": args.limit, "repeats": args.repeats,
                                  "summary": summary, **out})
    print(summary)
    return 0 if all(summary[k]["met"] for k in ("trips", "swap", "signals")) else 1


if __name__ == "__main__":
    sys.exit(main())

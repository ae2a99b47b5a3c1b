"""Itinerary quality through the local gateway: would a traveller accept these trips?

For every city (default: every seeded city with at least --min-venues venues) it plans a fixed set of trips
(TRIPS below: 3-4 days, start dates on every weekday and in every month, food-only, culture-only,
outdoors-only, nightlife-heavy, mixed and empty tag sets, every pace), each for a new traveller, with the
city's ranking and plan caches emptied before each request and cache pre-warming held off, so every sample
is an uncached plan. It reads the planned venues' catalogue rows from Postgres and counts what a traveller
would reject (shared/domains/travel/trips/quality.py defines every measure), per city and overall, then
writes bench/results/itinerary_quality.json and checks the figures against the targets of issue 10.

Run:
    .venv/bin/python bench/itinerary_quality.py [--cities paris,seoul,...] [--gateway URL] [--seed-missing]
                                                 [--trips 12] [--show N]
Without --gateway a stack is started (and stopped); with it, the running stack's env must be exported
(`eval "$(.venv/bin/python -m emulators.cli env)"`). --seed-missing seeds a named city that is not seeded yet;
--show N prints N whole itineraries per city, as a traveller would read them.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from _common import (REPO_ROOT, flush_city_cache, hold_city_prewarm, lift_rate_limits, release_city_prewarm,
                     write_result)

PROFILES = [  # (name, tags): two variants of each kind of traveller
    ("food", {"food": ["seafood", "coffee", "dessert"]}),
    ("culture", {"interests": ["museums", "art", "history"]}),
    ("outdoors", {"interests": ["parks", "hiking", "views"]}),
    ("nightlife", {"interests": ["nightlife", "live_music"], "food": ["cocktails", "beer"]}),
    ("mixed", {"food": ["coffee", "seafood"], "interests": ["museums", "parks", "markets"], "vibe": ["local"]}),
    ("empty", {}),
    ("food", {"food": ["italian", "bakery", "vegetarian"]}),
    ("culture", {"interests": ["architecture", "history", "theatre"]}),
    ("outdoors", {"interests": ["gardens", "waterfront", "nature"]}),
    ("nightlife", {"interests": ["nightlife"], "food": ["cocktails", "wine"], "vibe": ["lively"]}),
    ("mixed", {"food": ["pizza"], "interests": ["art", "views", "shopping"], "vibe": ["hidden_gems"]}),
    ("empty", {}),
]
PACES = ("slow", "moderate", "fast")
FIRST_YEAR = 2027


def trip_specs(n: int) -> list[dict]:
    """n fixed trips: trip i starts in month (i % 12) + 1 on weekday i % 7 (Monday = 0), lasts 3 or 4 days,
    with profile i % 12 and pace i % 3. The same n gives the same requests in every run and city."""
    specs = []
    for i in range(n):
        year, month = FIRST_YEAR + i // 12, i % 12 + 1
        first = dt.date(year, month, 1)
        start = first + dt.timedelta(days=(i % 7 - first.weekday()) % 7)
        days = 3 + i % 2
        kind, tags = PROFILES[i % len(PROFILES)]
        specs.append({"profile": kind, "tags": {**tags, "pace": PACES[i % 3]}, "start_date": start.isoformat(),
                      "end_date": (start + dt.timedelta(days=days - 1)).isoformat()})
    return specs


# --- the catalogue ---------------------------------------------------------------------------------------------
NODE_FIELDS = ("id, city_id, name, category, description, vibe_tags, hours, opening, venue_type, visit_kind, "
               "season_months, plannable, plannable_reason, landmark, lat, lon, coord_precision")


async def _fetch(database_url: str, sql: str, *args):
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def seeded_cities(database_url: str, min_venues: int) -> dict[str, int]:
    rows = asyncio.run(_fetch(database_url, "SELECT id, venue_count FROM cities WHERE seeded_at IS NOT NULL"
                                            " AND venue_count >= $1 ORDER BY id", min_venues))
    return {r["id"]: r["venue_count"] for r in rows}


def nodes_for(database_url: str, ids: list[str]) -> dict[str, dict]:
    rows = asyncio.run(_fetch(database_url, f"SELECT {NODE_FIELDS} FROM activity_nodes WHERE id = ANY($1::text[])",
                              ids))
    return {r["id"]: dict(r) for r in rows}


def city_nodes(database_url: str, city: str) -> list[dict]:
    rows = asyncio.run(_fetch(database_url, f"SELECT {NODE_FIELDS} FROM activity_nodes WHERE city_id = $1 AND plannable"
                                            " AND coord_precision IN ('exact', 'district')", city))
    return [dict(r) for r in rows]


def seed(city: str, env: dict) -> None:
    print(f"seeding {city} ...", flush=True)
    subprocess.run([sys.executable, "-m", "jobs.seed_city.main", "--city", city], env={**os.environ, **env},
                   cwd=REPO_ROOT, check=True)


# --- planning --------------------------------------------------------------------------------------------------
def plan_city(client: httpx.Client, redis, city: str, specs: list[dict], run: str) -> list[dict]:
    """Plan every spec for a new traveller; each request finds the city's caches empty."""
    hold_city_prewarm(redis, city)
    out = []
    for i, spec in enumerate(specs):
        flush_city_cache(redis, city)
        body = {"city": city, "start_date": spec["start_date"], "end_date": spec["end_date"], "tags": spec["tags"]}
        t0 = time.perf_counter()
        r = client.post("/v1/trips", json=body, headers={"Authorization": f"Bearer iq-{run}-{city}-{i}"})
        ms = (time.perf_counter() - t0) * 1000
        if r.status_code != 201:
            raise SystemExit(f"{city}: POST /v1/trips {body} -> {r.status_code} {r.text[:400]}")
        trip = r.json()
        if (trip.get("cache") or {}).get("hit"):
            raise SystemExit(f"{city}: trip {i} came from a cache although the caches were emptied; the latency "
                             "would not be an uncached one")
        out.append({"spec": spec, "trip": trip, "ms": ms})
    return out


def warm_up(client: httpx.Client, city: str, run: str) -> float:
    """One request per city outside the samples: the first touch of a city loads its landmarks and ANN index
    into the trips process, a one-off per process, not a per-request cost."""
    spec = trip_specs(1)[0]
    t0 = time.perf_counter()
    client.post("/v1/trips", json={"city": city, "start_date": spec["start_date"], "end_date": spec["end_date"],
                                   "tags": spec["tags"]}, headers={"Authorization": f"Bearer iq-{run}-{city}-warm"})
    return (time.perf_counter() - t0) * 1000


def show(trip: dict, spec: dict) -> None:
    print(f"\n=== {trip['city']['id']}: {spec['profile']} {spec['tags']} {spec['start_date']}..{spec['end_date']}"
          f"  served_by {trip.get('served_by')}")
    for day in trip["days"]:
        print(f"  Day {day['day']} {day['weekday']} {day['date']}  {day['km']:.1f} km")
        for s in day["slots"]:
            v = s["venue"]
            leg = f" [{s['travel']['km']:.1f} km {s['travel']['mode']}]" if (s.get("travel") or {}).get("km") else ""
            mark = ", landmark" if v.get("landmark") and v.get("venue_type") != "landmark" else ""
            print(f"    {s['arrive']}-{s['depart']} {s['kind']:<9} {v['name']} ({v.get('venue_type')}{mark}){leg}")
            print(f"        {s['narrative']}")


# --- the verdict -----------------------------------------------------------------------------------------------
def verdict(s: dict) -> dict:
    """Each target of issue 10's "Done when" against one summary: value, target, met."""
    ohv = s["open_hours_violations"]
    violations = ohv["listed_violations"] + ohv["typical_violations"] + ohv["events_out_of_season"] + \
        ohv["unplannable_planned"]

    def at_least(value, target):
        return value is not None and value >= target

    def at_most(value, target):
        return value is not None and value <= target

    night = s["median_last_arrival_nightlife"]
    checks = {
        "open_hours_violations": (violations, 0, violations == 0),
        "bars_before_16": (s["bars_before_16"], 0, s["bars_before_16"] == 0),
        "lunch_coverage": (s["lunch_coverage"], 0.95, at_least(s["lunch_coverage"], 0.95)),
        "dinner_coverage": (s["dinner_coverage"], 0.95, at_least(s["dinner_coverage"], 0.95)),
        "median_last_arrival": (s["median_last_arrival"], "19:30", at_least(s["median_last_arrival"], "19:30")),
        "median_last_arrival_nightlife": (night, "21:30", night is None or night >= "21:30"),
        "false_claim_rate": (s["false_claim_rate"], 0.0, s["false_claim_rate"] == 0.0),
        "coordinates_share": (s["coordinates"]["share"], 0.95, at_least(s["coordinates"]["share"], 0.95)),
        "walking_km_per_day_median": (s["walking_km_per_day"]["median"], 6.0,
                                      at_most(s["walking_km_per_day"]["median"], 6.0)),
        "tag_match_rate": (s["tag_match"]["rate"], 0.85, at_least(s["tag_match"]["rate"], 0.85)),
        "landmark_coverage": (s["landmark_coverage"]["rate"], 0.80, at_least(s["landmark_coverage"]["rate"], 0.80)),
        "uncached_p95_ms": (s["latency_ms"]["p95"], 1000, at_most(s["latency_ms"]["p95"], 1000)),
    }
    return {k: {"value": v, "target": t, "met": bool(m)} for k, (v, t, m) in checks.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cities", help="comma-separated city ids (default: every seeded city with --min-venues)")
    ap.add_argument("--min-venues", type=int, default=100,
                    help="default city list: seeded cities with at least this many venues (default 100)")
    ap.add_argument("--trips", type=int, default=12, help="trips per city (at least 12; default 12)")
    ap.add_argument("--gateway", help="use a running stack's gateway (its env must be exported)")
    ap.add_argument("--seed-missing", action="store_true", help="seed a named city that is not seeded yet")
    ap.add_argument("--show", type=int, default=0, metavar="N", help="print N whole itineraries per city")
    ap.add_argument("--out", default="itinerary_quality", help="result name: bench/results/<out>.json")
    args = ap.parse_args(argv)
    if args.trips < 12:
        ap.error("--trips must be at least 12 (the fixed set covers every profile and weekday)")
    from emulators.stack import Stack

    stack = None
    if args.gateway:
        gw, env = args.gateway.rstrip("/"), dict(os.environ)
    else:
        lift_rate_limits()
        stack = Stack(state_dir=Path(tempfile.mkdtemp(prefix="itinerary-quality-")), dynamic_ports=True,
                      scheduler=False)
        stack.up()
        stack.export()
        gw, env = stack.gateway_url, stack.env
    try:
        return run(gw, env, args)
    finally:
        if stack is not None:
            stack.down(quiet=True)


def run(gw: str, env: dict, args) -> int:
    from shared.adapters.redis_cache import get_redis
    from shared.domains.travel.trips.quality import Tally, servable_pairs
    from shared.domains.travel.trips.tags import parse_tags
    from shared.settings import get_settings

    os.environ.update(env)
    get_settings.cache_clear()
    db = env["DATABASE_URL"]
    seeded = seeded_cities(db, 1)
    if args.cities:
        cities = [c.strip() for c in args.cities.split(",") if c.strip()]
        missing = [c for c in cities if c not in seeded]
        if missing and not args.seed_missing:
            raise SystemExit(f"not seeded: {', '.join(missing)}; seed them (python -m jobs.seed_city.main --city X, "
                             "or --all) or pass --seed-missing")
        for c in missing:
            seed(c, env)
    else:
        cities = list(seeded_cities(db, args.min_venues))
        if not cities:
            raise SystemExit("no seeded city; seed some first: python -m jobs.seed_city.main --all")
    specs, run_id, redis = trip_specs(args.trips), uuid.uuid4().hex[:8], get_redis()
    overall, per_city, warm = Tally(), {}, {}
    client = httpx.Client(base_url=gw, timeout=60)
    try:
        for n, city in enumerate(cities, 1):
            print(f"[{n}/{len(cities)}] {city}: planning {len(specs)} trips ...", flush=True)
            warm[city] = round(warm_up(client, city, run_id), 1)
            planned = plan_city(client, redis, city, specs, run_id)
            ids = sorted({s["venue"]["id"] for p in planned for d in p["trip"]["days"] for s in d["slots"]})
            nodes = nodes_for(db, ids)
            asked = {t for p in planned for t in parse_tags(p["spec"]["tags"]).all}
            servable = servable_pairs(city_nodes(db, city), sorted(asked))
            tally = Tally()
            for i, p in enumerate(planned):
                tags = parse_tags(p["spec"]["tags"])
                for t in (tally, overall):
                    t.add(p["trip"], tags, nodes, latency_ms=p["ms"], servable=servable)
                if i < args.show:
                    show(p["trip"], p["spec"])
            per_city[city] = tally.summary()
            release_city_prewarm(redis, city)
    finally:
        client.close()
    summary = overall.summary()
    summary["concentration"] = {"top_non_landmark_share_max_over_cities": max(
        (c["concentration"]["top_non_landmark_share"] for c in per_city.values()), default=None)}
    checks = verdict(summary)
    write_result(args.out, {
        "gateway": gw, "trips_per_city": len(specs), "trips": specs, "cities": cities,
        "warm_up_ms": warm, "overall": summary, "targets": checks,
        "per_city": {c: {"summary": s, "targets": verdict(s)} for c, s in per_city.items()},
        "how_measured": "shared/domains/travel/trips/quality.py (module docstring)",
    })
    print_table(per_city, summary, checks)
    return 0 if all(c["met"] for c in checks.values()) else 1


def print_table(per_city: dict, overall: dict, checks: dict) -> None:
    cols = ("viol", "bar<16", "lunch", "dinner", "last", "last-nl", "coords", "km med", "km p90", "walk km", "tags",
            "tag cov", "false", "landm", "conc", "p50 ms", "p95 ms")
    print("\n" + f"{'city':<18}" + "".join(f"{c:>8}" for c in cols))

    def row(name, s):
        ohv = s["open_hours_violations"]
        viol = sum(ohv[k] for k in ("listed_violations", "typical_violations", "events_out_of_season",
                                    "unplannable_planned"))
        conc = s["concentration"].get("top_non_landmark_share",
                                      s["concentration"].get("top_non_landmark_share_max_over_cities"))
        vals = (viol, s["bars_before_16"], s["lunch_coverage"], s["dinner_coverage"], s["median_last_arrival"],
                s["median_last_arrival_nightlife"], s["coordinates"]["share"], s["km_per_day"]["median"],
                s["km_per_day"]["p90"], s["walking_km_per_day"]["median"], s["tag_match"]["rate"],
                s["tag_match"]["tag_coverage"], s["false_claim_rate"],
                s["landmark_coverage"]["rate"], conc, s["latency_ms"]["p50"], s["latency_ms"]["p95"])
        cells = "".join(f"{('-' if v is None else (f'{v:.2f}' if isinstance(v, float) else v)):>8}" for v in vals)
        print(f"{name:<18}{cells}")

    for city, s in per_city.items():
        row(city, s)
    row("OVERALL", overall)
    print("\ntargets (overall):")
    for k, c in checks.items():
        print(f"  {'ok ' if c['met'] else 'MISS'} {k:<32} {c['value']!s:>10}  target {c['target']}")
    if overall["examples"]:
        print("\nexamples of what was counted:")
        for problem, items in overall["examples"].items():
            for text in items[:3]:
                print(f"  {problem}: {text}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

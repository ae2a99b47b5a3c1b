"""Cloud Run Job: seed one city's catalogue into Postgres and Qdrant.

    python -m jobs.seed_city.main --city seattle [--source wikivoyage,travelplanner,michelin,posts] [--limit N]
                                  [--tagger auto|offline|anthropic|student] [--data-dir DIR | --demo] [--json]
    python -m jobs.seed_city.main --all [--source ...] [--tagger ...]   (every city the Wikivoyage extract covers)
    python -m jobs.seed_city.main --list-cities

Re-running is safe: unchanged venues are skipped, changed ones updated, nothing is duplicated.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_DATA = REPO_ROOT / "emulators" / "demo_data"  # the attributed Seattle extract (a path, not an import)
EXIT_BAD_INPUT = 2
ALL_FROM = "wikivoyage"  # --all: the cities this source covers (the only source that lists sights, not just food)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m jobs.seed_city.main", description="Seed a city's venue catalogue.")
    p.add_argument("--city", help="city name or id, e.g. seattle, 'San Francisco', manhattan")
    p.add_argument("--source", default=None,
                   help="comma-separated sources (default wikivoyage,travelplanner,michelin,posts; "
                        "networked: reddit, rss, places)")
    p.add_argument("--limit", type=int, default=None, help="seed at most N venues (the first N by name)")
    p.add_argument("--tagger", default="auto", choices=["auto", "offline", "anthropic", "student"],
                   help="auto: Claude Haiku when ANTHROPIC_API_KEY is set, else the offline zero-shot teacher")
    p.add_argument("--data-dir", type=Path, default=None, help="datasets folder (default: settings data_dir)")
    p.add_argument("--demo", action="store_true", help="read the repository's Seattle extract (emulators/demo_data)")
    p.add_argument("--all", action="store_true",
                   help=f"seed every city the {ALL_FROM} extract covers, one after another, and print a table")
    p.add_argument("--list-cities", action="store_true", help="list the cities the sources cover and exit")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    return p


class ProgressPrinter:
    def __init__(self, city: str, stream=sys.stderr) -> None:
        self.city, self.stream, self.started = city, stream, time.perf_counter()
        self._last: tuple[str, int] | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._last == (stage, done):
            return
        self._last = (stage, done)
        pct = f"{100 * done / total:5.1f}%" if total else "  -  "
        elapsed = time.perf_counter() - self.started
        print(f"[seed {self.city}] {elapsed:6.1f}s {stage:<8} {done}/{total} {pct}", file=self.stream, flush=True)


def list_cities(data_dir: Path) -> int:
    from shared.domains.travel.catalogue.cities import known_cities

    cities = known_cities(data_dir)
    if not cities:
        print(f"no city sources found under {data_dir}; set CONCIERGE_DATA_DIR or pass --data-dir", file=sys.stderr)
        return 1
    print(f"{len(cities)} cities covered by the sources under {data_dir} (id: name [sources]):")
    for city in cities.values():
        print(f"  {city.id}: {city.name} [{', '.join(city.sources)}]")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from shared.settings import get_settings

    data_dir = DEMO_DATA if args.demo else (args.data_dir or get_settings().data_dir)
    if args.list_cities:
        return list_cities(data_dir)
    if args.all and args.city:
        print("seed_city: give --city or --all, not both", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not args.city and not args.all:
        print("seed_city: --city is required (or --all, or --list-cities to see the choices)", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.limit is not None and args.limit <= 0:
        print("seed_city: --limit must be a positive number of venues", file=sys.stderr)
        return EXIT_BAD_INPUT

    from shared.domains.travel.catalogue.cities import UnknownCity
    from shared.domains.travel.catalogue.pipeline import SeedError, parse_sources, seed_city

    try:
        sources = parse_sources(args.source)
    except ValueError as exc:
        print(f"seed_city: --source: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.all:
        return seed_all(data_dir, sources, args)
    try:
        summary = asyncio.run(seed_city(args.city, sources=sources, limit=args.limit, tagger=args.tagger,
                                        data_dir=data_dir, progress=ProgressPrinter(args.city)))
    except UnknownCity as exc:
        print(f"seed_city: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SeedError as exc:
        print(f"seed_city: {exc}", file=sys.stderr)
        return 1
    except (OSError, ConnectionError) as exc:
        print(f"seed_city: cannot reach a store ({exc}); check DATABASE_URL and QDRANT_URL "
              "(locally: `make up` starts the stack)", file=sys.stderr)
        return 1
    except Exception as exc:  # the job's last word: say what failed, exit non-zero
        name = type(exc).__name__
        print(f"seed_city: failed with {name}: {exc}. Nothing was written to Postgres if this happened before the "
              "write step; fix the cause and re-run (re-runs are idempotent).", file=sys.stderr)
        return 1
    finally:
        _close_qdrant()
    print(summary.format(), file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(summary.as_dict(), default=str))
    return 0


def seed_all(data_dir: Path, sources, args) -> int:
    """Seed every city the ALL_FROM extract covers. A city that fails is reported and the rest still run; the exit
    status is non-zero when any failed (re-running is idempotent, so fixing the cause and re-running is safe)."""
    from shared.domains.travel.catalogue.cities import known_cities
    from shared.domains.travel.catalogue.pipeline import seed_city

    cities = [c for c in known_cities(data_dir).values() if ALL_FROM in c.sources]
    if not cities:
        print(f"seed_city: no {ALL_FROM} cities under {data_dir}; set CONCIERGE_DATA_DIR or pass --data-dir",
              file=sys.stderr)
        return 1
    rows, started = [], time.perf_counter()
    try:
        for i, city in enumerate(cities, 1):
            print(f"[seed --all] {i}/{len(cities)} {city.id}", file=sys.stderr, flush=True)
            try:
                summary = asyncio.run(seed_city(city.id, sources=sources, limit=args.limit, tagger=args.tagger,
                                                data_dir=data_dir, progress=ProgressPrinter(city.id)))
            except Exception as exc:  # one city's failure must not stop the others; it is reported below
                rows.append({"city": city.id, "error": f"{type(exc).__name__}: {exc}"})
                continue
            rows.append(_row(summary))
    finally:
        _close_qdrant()
    print(format_table(rows, time.perf_counter() - started))
    if args.json:
        print(json.dumps(rows, default=str))
    return 1 if any("error" in r for r in rows) else 0


def _row(summary) -> dict:
    planning = summary.planning or {}
    hours, coords = planning.get("hours") or {}, planning.get("coords") or {}
    return {"city": summary.city_id, "venues": summary.venues, "written": summary.written,
            "not_plannable": sum((planning.get("not_plannable") or {}).values()),
            "hours_parsed_pct": hours.get("parsed_pct"), "landmarks": len(planning.get("landmarks") or []),
            "coords": coords, "seconds": round(summary.seconds, 1)}


def format_table(rows: list[dict], seconds: float) -> str:
    head = f"{'city':<26}{'venues':>7}{'written':>8}{'unplannable':>12}{'hours parsed':>13}{'landmarks':>10}{'s':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['city']:<26} FAILED: {r['error'][:200]}")
            continue
        parsed = "-" if r["hours_parsed_pct"] is None else f"{r['hours_parsed_pct']:.1f}%"
        lines.append(f"{r['city']:<26}{r['venues']:>7}{r['written']:>8}{r['not_plannable']:>12}{parsed:>13}"
                     f"{r['landmarks']:>10}{r['seconds']:>7.1f}")
    ok = [r for r in rows if "error" not in r]
    lines.append(f"{len(ok)}/{len(rows)} cities seeded, {sum(r['venues'] for r in ok)} venues, in {seconds:.0f}s")
    return "\n".join(lines)


def _close_qdrant() -> None:
    """Release Qdrant before exit: local mode (QDRANT_URL=path:...) otherwise complains at interpreter shutdown."""
    module = sys.modules.get("shared.adapters.qdrant")
    if module is None:
        return
    try:
        module.get_qdrant().close()
        module._cached.cache_clear()
    except Exception:  # closing is best effort; the run's outcome is already decided
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

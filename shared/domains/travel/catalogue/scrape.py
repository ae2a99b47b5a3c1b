"""Scrape local posts once (network + credentials) and keep them as JSONL for network-free seeding runs.

    python -m shared.domains.travel.catalogue.scrape --city seattle --source reddit,rss --out <data_dir>/posts/seattle.jsonl

The posts source (sources/posts.py) reads every <data_dir>/posts/*.jsonl on later runs.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shared.domains.travel.catalogue.cities import UnknownCity, resolve_city
from shared.domains.travel.catalogue.records import PostRecord
from shared.domains.travel.catalogue.sources import make_source
from shared.domains.travel.catalogue.sources.posts import post_to_json
from shared.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.domains.travel.catalogue.scrape")
    parser.add_argument("--city", required=True)
    parser.add_argument("--source", default="reddit,rss", help="networked post sources: reddit, rss")
    parser.add_argument("--out", type=Path, required=True, help="JSONL file to append to")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    data_dir = args.data_dir or get_settings().data_dir
    try:
        city = resolve_city(args.city, data_dir)
    except UnknownCity as exc:
        print(f"scrape: {exc}", file=sys.stderr)
        return 2
    written = 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a", encoding="utf-8") as fh:
        for name in [s.strip() for s in args.source.split(",") if s.strip()]:
            source = make_source(name, data_dir)
            if source.kind != "posts":
                print(f"scrape: {name} is not a post source; skipped", file=sys.stderr)
                continue
            reason = source.available()
            if reason:
                print(f"scrape: {name} skipped: {reason}", file=sys.stderr)
                continue
            for post in source.read(city):
                if isinstance(post, PostRecord):
                    fh.write(json.dumps(post_to_json(post), ensure_ascii=False) + "\n")
                    written += 1
    print(f"scrape: {written} post(s) appended to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Evaluate the suggest alert rules (p99 > 150 ms, error rate > 1%, coverage < 80%) on a live /metrics and print
which would fire: the local counterpart of the Cloud Monitoring alert policies in infra/pulumi/program.py, built from
the same rules (shared/api/suggest_metrics.ALERT_RULES).

    python -m emulators.suggest_alerts                       # the running stack's suggest function, over 60 s
    python -m emulators.suggest_alerts --window 0            # one scrape: everything since the instance started
    python -m emulators.suggest_alerts --url http://127.0.0.1:8123/metrics --window 30

With a window, two scrapes `window` seconds apart are compared (the increase of every counter and histogram, as
Prometheus' rate() and Cloud Monitoring's alignment window do), so an old incident does not keep firing. Exit status
1 when any alert fires, 0 otherwise.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import httpx

from shared.api.suggest_metrics import AlertState, delta, evaluate, parse_exposition


def default_url() -> str:
    url = os.environ.get("FUNCTION_URL_SUGGEST")
    if url:
        return url.rstrip("/") + "/metrics"
    from emulators.stack import Stack

    return Stack().function_url("suggest") + "/metrics"


def scrape(url: str, client: httpx.Client | None = None) -> dict:
    r = (client or httpx).get(url, timeout=10)
    r.raise_for_status()
    return parse_exposition(r.text)


def check(url: str, window: float, client: httpx.Client | None = None) -> list[AlertState]:
    first = scrape(url, client)
    if window <= 0:
        return evaluate(first)
    time.sleep(window)
    return evaluate(delta(first, scrape(url, client)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="the suggest function's /metrics (default: the local stack's)")
    ap.add_argument("--window", type=float, default=60.0, help="seconds between the two scrapes; 0: one scrape")
    args = ap.parse_args(argv)
    states = check(args.url or default_url(), args.window)
    for state in states:
        print(state.line())
    firing = [s.rule.name for s in states if s.firing]
    print(f"{len(firing)} alert(s) would fire" + (f": {', '.join(firing)}" if firing else ""))
    return 1 if firing else 0


if __name__ == "__main__":
    sys.exit(main())

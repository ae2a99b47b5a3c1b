"""The README's main command: bring the local stack up, seed Seattle from the repository's extract, and plan
a trip through the gateway, printing each step. The stack stays up afterwards (stop it with `make down`)."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import httpx

from emulators.cli import print_health
from emulators.procs import StackError
from emulators.stack import LOCAL_ADMIN_TOKEN, Stack

DEMO_USER = "demo-traveller"


def ensure_up(stack: Stack) -> None:
    if stack.env and stack.table.alive():
        print(f"the local stack is already running (gateway {stack.gateway_url})")
        return
    stack.up()


def seed_seattle(stack: Stack) -> None:
    print("\nseeding Seattle from the repository's extract (emulators/demo_data)...")
    env = {**os.environ, **stack.env}
    code = subprocess.call([sys.executable, "-m", "jobs.seed_city.main", "--city", "seattle", "--demo"], env=env)
    if code != 0:
        raise StackError(f"seeding Seattle failed (exit code {code}); see the output above")


def plan_trip(stack: Stack) -> None:
    start = dt.date.today() + dt.timedelta(days=14)
    request = {"city": "seattle", "start_date": start.isoformat(), "end_date": (start + dt.timedelta(days=2)).isoformat(),
               "tags": {"food": ["ramen", "coffee"], "pace": "slow"}}
    print(f"\nPOST {stack.gateway_url}/v1/trips  {json.dumps(request)}")
    resp = httpx.post(f"{stack.gateway_url}/v1/trips", json=request,
                      headers={"Authorization": f"Bearer {DEMO_USER}"}, timeout=60)
    if resp.status_code >= 400:
        raise StackError(f"planning failed: {resp.status_code} {resp.text[:500]}")
    trip = resp.json()
    print(f"trip {trip.get('trip_id')} ({resp.status_code}); X-Model-Version: {resp.headers.get('X-Model-Version')}; "
          f"served_by: {trip.get('served_by')} ({trip.get('fallback_reason') or 'primary ranker'})")
    for day in trip.get("days", []):
        windows = day.get("meal_windows") or {}
        print(f"\n  Day {day.get('day')}, {day.get('weekday', '')} {day.get('date', '')}: {day.get('km', 0):.1f} km"
              f" between stops; lunch {'-'.join(windows.get('lunch', []))}, dinner {'-'.join(windows.get('dinner', []))}")
        for slot in day.get("slots", []):
            venue = slot.get("venue") or {}
            travel = slot.get("travel")
            leg = ""
            if travel and travel.get("km") is not None:
                leg = f"  [{travel['km']:.1f} km, {travel['minutes']} min {travel['mode']} from the previous stop]"
            print(f"    {slot.get('arrive', '?')}-{slot.get('depart', '?')}  {slot.get('kind', ''):<9} "
                  f"{venue.get('name', '?')}{leg}")
            if slot.get("narrative"):
                print(f"                 {slot['narrative']}")
    if trip.get("empty_reason"):
        print(f"\n  note: {trip['empty_reason']}")


def main() -> int:
    stack = Stack()
    try:
        ensure_up(stack)
        print_health(stack)
        seed_seattle(stack)
        plan_trip(stack)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"\nthe stack is still running: API docs at {stack.gateway_url}/docs; stop it with `make down`")
    token = "your ADMIN_TOKEN" if os.environ.get("ADMIN_TOKEN") else f"the local admin token {LOCAL_ADMIN_TOKEN!r}"
    print(f"operator console: {stack.gateway_url}/console (sign in with {token}; Trips opens a trip by its id)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

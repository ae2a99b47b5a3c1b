"""Cloud Run Job: the group planner's monthly cycle, so that every active group ends the month with a closed
plan or a stated reason.

    python -m jobs.group_cycles.main [--now 2031-03-01T08:00:00Z] [--json]

For every active group, in order:
1. no cycle this month (the group's zone) → start one: the best window of the coming weeks, five options,
   the vote open until its deadline. When no window or too few options exist, the month's cycle is stored
   with that reason instead;
2. a cycle whose vote is past its deadline → close it: the winner (no votes: the safe option), carpools and
   invitations.
Cloud Scheduler fires it daily (infra/pulumi/resources.yaml), which on the 1st starts every group's cycle and
on later days closes the votes that ended; a re-run does nothing twice. Shards by CLOUD_RUN_TASK_INDEX/COUNT.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys


def _log(msg: str) -> None:
    print(f"group_cycles: {msg}", flush=True)


def _instant(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise argparse.ArgumentTypeError("--now needs a UTC offset, e.g. 2031-03-01T08:00:00Z")
    return t


async def run(now: dt.datetime) -> dict:
    from shared.adapters.postgres import create_pool
    from shared.domains.errors import DomainError
    from shared.domains.groups import cycles
    from shared.domains.groups.membership import load_group_any

    index, count = int(os.environ.get("CLOUD_RUN_TASK_INDEX", 0)), int(os.environ.get("CLOUD_RUN_TASK_COUNT", 1))
    outcome = {"started": 0, "no_plan": 0, "closed": 0, "waiting": 0, "groups": {}}
    pool = await create_pool(min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            ids = [r["id"] for r in await conn.fetch("SELECT id FROM groups WHERE active ORDER BY id")]
            for gid in ids[index::count]:
                group = await load_group_any(conn, gid)
                month = cycles.month_of(now, group.tz)
                row = await conn.fetchrow(
                    "SELECT id, status, deadline, options FROM group_cycles WHERE group_id = $1 AND month >= $2 "
                    "ORDER BY month LIMIT 1", gid, month)
                if row is None:
                    try:
                        view = await cycles.start_cycle(conn, group, now=now)
                        outcome["started"] += 1
                        row = await conn.fetchrow("SELECT id, status, deadline, options FROM group_cycles WHERE id = $1",
                                                  view["id"])
                        _log(f"{gid}: cycle {view['id']} started, vote until {view['deadline']}")
                    except DomainError as exc:
                        await cycles.record_failed_cycle(conn, group, month, exc.message, now)
                        outcome["no_plan"] += 1
                        outcome["groups"][gid] = f"no plan: {exc.message}"
                        _log(f"{gid}: no plan this month: {exc.message}")
                        continue
                if row["status"] == "voting" and row["deadline"] <= now:
                    view = await cycles.close(conn, group, row["id"], now=now)
                    outcome["closed"] += 1
                    outcome["groups"][gid] = f"closed: {view['reason']}"
                    _log(f"{gid}: closed: {view['reason']}")
                elif row["status"] == "voting":
                    outcome["waiting"] += 1
                    outcome["groups"][gid] = f"voting until {row['deadline'].isoformat()}"
                else:
                    outcome["groups"][gid] = row["status"] if row["options"] else "no plan (recorded earlier)"
    finally:
        await pool.close()
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.group_cycles.main", description=__doc__.split("\n")[0])
    parser.add_argument("--now", type=_instant, default=None, help="act as if it were this instant (tests, replays)")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    args = parser.parse_args(argv)
    now = args.now or dt.datetime.now(dt.timezone.utc)
    outcome = asyncio.run(run(now))
    _log(f"started {outcome['started']}, closed {outcome['closed']}, voting {outcome['waiting']}, "
         f"no plan {outcome['no_plan']}")
    if args.json:
        print(json.dumps(outcome, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

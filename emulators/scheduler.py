"""The local Cloud Scheduler: fires the schedules declared in resources.yaml (the ones Pulumi deploys)
by running the target Cloud Run Job's entry point as a subprocess with the stack's environment.

Run: python -m emulators.scheduler   (the stack starts it unless `up --no-scheduler`)
"""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from croniter import croniter

from infra.pulumi.declaration import Schedule, load


def next_fire(schedule: Schedule, after: datetime) -> datetime:
    local = after.astimezone(ZoneInfo(schedule.timezone))
    return croniter(schedule.cron, local).get_next(datetime).astimezone(timezone.utc)


def job_command(schedule: Schedule) -> list[str]:
    return [sys.executable, "-m", f"jobs.{schedule.job}.main"]


def run_forever(poll_s: float = 1.0) -> None:
    decl = load(strict=False)
    schedules = [s for s in decl.schedules if s.job in decl.jobs]  # the stack already warned about the rest
    now = datetime.now(timezone.utc)
    due = {s.name: next_fire(s, now) for s in schedules}
    for s in schedules:
        print(f"scheduler: {s.name} ({s.cron} {s.timezone}) -> job {s.job}, next at {due[s.name].isoformat()}", flush=True)
    running: dict[str, subprocess.Popen] = {}
    while True:
        now = datetime.now(timezone.utc)
        for s in schedules:
            if now >= due[s.name]:
                previous = running.get(s.name)
                if previous is not None and previous.poll() is None:
                    print(f"scheduler: {s.name} still running; skipping this firing", flush=True)
                else:
                    print(f"scheduler: firing {s.name} -> {' '.join(job_command(s))}", flush=True)
                    running[s.name] = subprocess.Popen(job_command(s))
                due[s.name] = next_fire(s, now)
        time.sleep(poll_s)


if __name__ == "__main__":
    run_forever()

"""Weekly retraining is declared once (resources.yaml) and fired by the local scheduler as the Cloud Run Job."""
from __future__ import annotations

from datetime import UTC, datetime

from emulators.scheduler import job_command, next_fire
from infra.pulumi.declaration import load


def test_the_weekly_retrain_is_declared_once_and_the_local_scheduler_fires_the_job():
    decl = load()
    (schedule,) = [s for s in decl.schedules if s.job == "suggest_retrain"]
    assert "suggest_retrain" in decl.jobs
    first = next_fire(schedule, datetime(2026, 12, 2, 12, 0, tzinfo=UTC))       # a Wednesday
    second = next_fire(schedule, first)
    assert first.weekday() == 0 and (second - first).days == 7                  # Mondays, weekly
    assert job_command(schedule)[1:] == ["-m", "jobs.suggest_retrain.main"]

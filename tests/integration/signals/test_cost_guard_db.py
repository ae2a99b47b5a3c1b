"""The cost guard against Postgres: per-day/per-path totals, one alert per spiking day, the hard budget."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from shared.engine import cost_guard
from tests.integration.signals.conftest import pool, run

pytestmark = pytest.mark.integration
DAY = date(2001, 3, 20)  # far from any real usage other tests record today


async def _usage(**kw):
    await cost_guard.record_llm_usage(await pool(), model="claude-haiku", input_tokens=1000, output_tokens=200, **kw)


async def _fetch(sql, *args):
    return await (await pool()).fetch(sql, *args)


def test_usage_is_aggregated_per_day_path_and_model(pg_dsn, monkeypatch):
    monkeypatch.setattr(cost_guard, "today_utc", lambda: DAY - timedelta(days=30))
    for path in ("rank", "rank", "narrate"):
        run(_usage(path=path, cost_usd=0.25))
    rows = run(cost_guard.usage_for_day(run(pool()), DAY - timedelta(days=30)))
    assert [(r["path"], r["calls"], r["input_tokens"], r["output_tokens"], float(r["cost_usd"])) for r in rows] == \
        [("narrate", 1, 1000, 200, 0.25), ("rank", 2, 2000, 400, 0.5)]


def test_a_spike_raises_one_alert_and_one_metric(pg_dsn, monkeypatch, capsys):
    for back in range(1, 8):  # a steady week at 1 USD a day
        monkeypatch.setattr(cost_guard, "today_utc", lambda back=back: DAY - timedelta(days=back))
        run(_usage(path="rank", cost_usd=1.0))
    capsys.readouterr()
    monkeypatch.setattr(cost_guard, "today_utc", lambda: DAY)
    run(_usage(path="rank", cost_usd=1.5))
    run(_usage(path="narrate", cost_usd=0.5))  # exactly 2x: not yet
    assert run(_fetch("SELECT * FROM llm_cost_alerts WHERE day = $1", DAY)) == []
    run(_usage(path="narrate", cost_usd=0.01))  # now above
    run(_usage(path="rank", cost_usd=3.0))  # still spiking, but the day's alert is already out
    alerts = run(_fetch("SELECT * FROM llm_cost_alerts WHERE day = $1", DAY))
    assert len(alerts) == 1 and float(alerts[0]["rolling_avg_usd"]) == 1.0 and float(alerts[0]["cost_usd"]) == 2.01
    metric = run(_fetch("SELECT value FROM ops_metrics WHERE name = $1 AND day = $2", cost_guard.ALERT_METRIC, DAY))
    assert [r["value"] for r in metric] == [1]
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    warnings = [e for e in logs if e.get("alert") == "llm_cost_spike"]
    assert len(warnings) == 1 and warnings[0]["severity"] == "WARNING"
    assert warnings[0]["cost_usd"] == 2.01 and warnings[0]["rolling_avg_usd"] == 1.0


def test_the_hard_budget_switches_ranking_off_the_llm(pg_dsn, monkeypatch):
    from shared.settings import get_settings

    budget_day = DAY + timedelta(days=100)
    monkeypatch.setattr(cost_guard, "today_utc", lambda: budget_day)
    monkeypatch.setenv("LLM_DAILY_BUDGET_USD", "1.0")
    get_settings.cache_clear()
    try:
        assert run(cost_guard.llm_refusal(run(pool()))) is None
        run(_usage(path="rank", cost_usd=0.6))
        assert run(cost_guard.llm_refusal(run(pool()))) is None
        run(_usage(path="narrate", cost_usd=0.4))
        assert run(cost_guard.llm_refusal(run(pool()))) == "llm_budget_exhausted"
    finally:
        monkeypatch.delenv("LLM_DAILY_BUDGET_USD")
        get_settings.cache_clear()


def test_one_user_cannot_spend_everyones_budget(pg_dsn, monkeypatch):
    """With a 1 USD budget and a 20% share, the heavy user is cut off at 0.20 USD; someone else is not."""
    from shared.settings import get_settings

    share_day = DAY + timedelta(days=200)
    monkeypatch.setattr(cost_guard, "today_utc", lambda: share_day)
    monkeypatch.setenv("LLM_DAILY_BUDGET_USD", "1.0")
    monkeypatch.setenv("LLM_USER_SHARE", "0.2")
    get_settings.cache_clear()
    try:
        run(_fetch("INSERT INTO users (id) VALUES ('heavy') ON CONFLICT DO NOTHING"))
        run(_usage(path="rank", cost_usd=0.15, user_id="heavy"))
        assert run(cost_guard.llm_refusal(run(pool()), "heavy")) is None
        run(_usage(path="rank", cost_usd=0.05, user_id="heavy"))
        assert run(cost_guard.llm_refusal(run(pool()), "heavy")) == "llm_user_share_spent"
        assert run(cost_guard.llm_refusal(run(pool()), "light")) is None
        assert run(cost_guard.llm_refusal(run(pool()))) is None  # system work (prewarm) is not a user's share
        rows = run(_fetch("SELECT calls, cost_usd FROM llm_usage_by_user WHERE day = $1 AND user_id = 'heavy'",
                          share_day))
        assert [(r["calls"], float(r["cost_usd"])) for r in rows] == [(2, 0.2)]
    finally:
        monkeypatch.delenv("LLM_DAILY_BUDGET_USD")
        monkeypatch.delenv("LLM_USER_SHARE")
        get_settings.cache_clear()


def test_recording_never_breaks_the_caller():
    class Broken:
        def acquire(self):
            raise ConnectionError("db down")

    run(cost_guard.record_llm_usage(Broken(), path="rank", model="m", input_tokens=1, output_tokens=1, cost_usd=0.1))


def test_an_unreadable_budget_fails_closed():
    class Broken:
        async def fetchrow(self, *a):
            raise ConnectionError("db down")

    assert run(cost_guard.llm_refusal(Broken(), "u")) == "llm_budget_exhausted"

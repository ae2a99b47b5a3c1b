"""The console's operator views against the real Postgres: what they count is what the tables hold."""
from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

pytestmark = pytest.mark.integration


async def _with_pool(dsn, fn):
    from shared.adapters.postgres import create_pool

    pool = await create_pool(dsn)
    try:
        return await fn(pool)
    finally:
        await pool.close()


def test_signal_flow_counts_stored_signals_per_minute_and_type(pg_dsn):
    from shared.engine.ops.views import signal_flow

    user = f"ops-{uuid.uuid4().hex[:8]}"

    async def go(pool):
        await pool.execute("INSERT INTO users (id) VALUES ($1) ON CONFLICT DO NOTHING", user)
        for i, kind in enumerate(("accept", "accept", "skip")):
            await pool.execute(
                "INSERT INTO behavioral_signals (event_id, user_id, signal_type, weight, created_at) "
                "VALUES ($1, $2, $3, 1.0, now() - interval '2 seconds')", f"{user}-{i}", user, kind)
        before = await signal_flow(pool, 5)
        return before

    flow = asyncio.run(_with_pool(pg_dsn, go))
    counts = {}
    for row in flow["per_minute"]:
        counts[row["signal_type"]] = counts.get(row["signal_type"], 0) + row["count"]
    assert counts.get("accept", 0) >= 2 and counts.get("skip", 0) >= 1
    assert flow["sink_lag_s"]["signals"] >= 3 and flow["sink_lag_s"]["max"] >= 1.5  # other tests share the window
    assert flow["last_stored_at"]


def test_llm_cost_days_draws_the_alert_line_from_the_days_before(pg_dsn):
    from shared.engine.cost_guard import today_utc
    from shared.engine.ops.views import llm_cost_days

    today = today_utc()

    async def go(pool):
        await pool.execute("DELETE FROM llm_usage")
        for back, cost in ((3, "0.10"), (2, "0.30"), (0, "1.00")):
            await pool.execute("INSERT INTO llm_usage (day, path, model, calls, cost_usd) VALUES ($1, 'trips', 'haiku', 1, $2)",
                               today - timedelta(days=back), Decimal(cost))
        try:
            return await llm_cost_days(pool, 5)
        finally:
            await pool.execute("DELETE FROM llm_usage")

    cost = asyncio.run(_with_pool(pg_dsn, go))
    days = {d["day"]: d for d in cost["days"]}
    assert cost["has_usage"] and len(cost["days"]) == 5
    assert days[today.isoformat()]["cost_usd"] == pytest.approx(1.0)
    # today's line: 2 x the mean of the 3 days since the first usage (0.10 + 0.30 + 0) / 3
    assert days[today.isoformat()]["alert_line_usd"] == pytest.approx(2 * 0.4 / 3)
    assert days[(today - timedelta(days=3)).isoformat()]["alert_line_usd"] is None  # no history before the first day

"""Engine-level operator views: signal flow, sink lag, LLM cost per day, evaluation reports.

Each function answers plain JSON-ready data; an empty store answers empty lists and nulls (never a made-up
figure), so the console can say "no data" instead of drawing zeros that look like measurements.
"""
from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

MAX_MINUTES = 24 * 60
REPORT_PREFIXES = ("evaluations/",)


async def signal_flow(pool, minutes: int = 60) -> dict[str, Any]:
    """Signals stored per minute and type over the last `minutes`, and the sink's lag (received_at - created_at:
    how long an accepted signal took to reach Postgres through Pub/Sub)."""
    rows = await pool.fetch(
        "SELECT date_trunc('minute', received_at) AS minute, signal_type, count(*) AS n FROM behavioral_signals "
        "WHERE received_at >= now() - make_interval(mins => $1) GROUP BY 1, 2 ORDER BY 1, 2", minutes)
    lag = await pool.fetchrow(
        "SELECT count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - created_at)) "
        "AS p50, percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - created_at)) AS p95, "
        "max(extract(epoch FROM received_at - created_at)) AS max FROM behavioral_signals "
        "WHERE received_at >= now() - make_interval(mins => $1)", minutes)
    latest = await pool.fetchval("SELECT max(received_at) FROM behavioral_signals")
    return {
        "window_minutes": minutes,
        "per_minute": [{"minute": r["minute"].isoformat(), "signal_type": r["signal_type"], "count": r["n"]}
                       for r in rows],
        "sink_lag_s": {"signals": lag["n"], "p50": _num(lag["p50"]), "p95": _num(lag["p95"]), "max": _num(lag["max"])},
        "last_stored_at": latest.isoformat() if latest else None,
    }


async def llm_cost_days(pool, days: int = 14) -> dict[str, Any]:
    """LLM cost per UTC day with the cost guard's alert line: twice the rolling 7-day average of the days before
    (shared.engine.cost_guard decides the alert with the same rule; the line is null while there is no history)."""
    from shared.engine.cost_guard import SPIKE_FACTOR, WINDOW_DAYS, rolling_average, today_utc

    today = today_utc()
    first = today - timedelta(days=days - 1)
    rows = await pool.fetch("SELECT day, sum(cost_usd) AS cost, sum(calls) AS calls FROM llm_usage "
                            "WHERE day >= $1::date - $2::int AND day <= $3 GROUP BY day ORDER BY day",
                            first, WINDOW_DAYS, today)
    by_day = {r["day"]: (Decimal(r["cost"]), int(r["calls"])) for r in rows}
    first_day = await pool.fetchval("SELECT min(day) FROM llm_usage")
    out = []
    for i in range(days):
        day = first + timedelta(days=i)
        window = sum((by_day.get(day - timedelta(days=k), (Decimal(0), 0))[0] for k in range(1, WINDOW_DAYS + 1)),
                     Decimal(0))
        average = rolling_average(window, first_day, day) if first_day and first_day < day else None
        cost, calls = by_day.get(day, (Decimal(0), 0))
        out.append({"day": day.isoformat(), "cost_usd": float(cost), "calls": calls,
                    "alert_line_usd": float(average * SPIKE_FACTOR) if average else None})
    return {"days": out, "spike_factor": float(SPIKE_FACTOR), "window_days": WINDOW_DAYS,
            "has_usage": bool(by_day)}


def list_reports(limit: int = 50) -> list[dict[str, Any]]:
    """The evaluation reports jobs/evaluate wrote (their report.json is written last, so a listed one is complete),
    newest first, each with the dataset, split and models it covers."""
    from shared.adapters import storage

    paths = [p for prefix in REPORT_PREFIXES for p in storage.list_paths("reports", prefix)
             if p.endswith("/report.json")]
    out = []
    for path in paths:
        try:
            report = json.loads(storage.read_bytes("reports", path))
        except (ValueError, OSError):
            continue
        out.append({"run_id": report.get("run_id"), "path": path, "created_at": report.get("created_at"),
                    "dataset": (report.get("data") or {}).get("dataset"),
                    "split": (report.get("data") or {}).get("split"), "eval_set": report.get("eval_set"),
                    "models": [m.get("model") for m in report.get("models") or []]})
    out.sort(key=lambda r: r["created_at"] or "", reverse=True)
    return out[:limit]


def read_report(run_id: str) -> dict[str, Any] | None:
    from shared.adapters import storage

    for prefix in REPORT_PREFIXES:
        path = f"{prefix}{run_id}/report.json"
        if path in storage.list_paths("reports", f"{prefix}{run_id}/"):
            return json.loads(storage.read_bytes("reports", path))
    return None


def _num(value) -> float | None:
    return None if value is None else round(float(value), 3)

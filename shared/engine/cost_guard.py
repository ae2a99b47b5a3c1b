"""The LLM cost guard: every call's tokens and cost per UTC day and path, a spike alert, and a hard daily budget.

- `record_llm_usage` is called after each LLM call. It upserts the day's row for (path, model) and, in the same
  transaction, compares today's total with the rolling 7-day average. The first time in a day that today costs
  more than twice that average, it writes one alert row, bumps the `llm_cost_spike_alerts` metric and emits a
  structured WARNING log entry (Cloud Logging parses JSON lines on stdout; a log-based metric counts them).
- `llm_refusal` tells the ranker router (and the persona writer) to stop calling the LLM for the rest of the day
  once the hard budget (settings.daily_llm_budget_usd) is spent; ranking then takes the heuristic path. A call
  made for a user is also counted against that user, and once one user's requests have spent
  settings.llm_user_share of the budget, their requests stop calling the LLM (the others' do not), so no single
  user can spend everyone's day.

Recording never breaks the request that made the call: a database failure is logged, not raised.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import date, datetime, timezone
from decimal import Decimal

from shared.settings import get_settings

log = logging.getLogger("concierge.cost_guard")

SPIKE_FACTOR = Decimal(2)
WINDOW_DAYS = 7
ALERT_METRIC = "llm_cost_spike_alerts"

_UPSERT = """
INSERT INTO llm_usage AS u (day, path, model, calls, input_tokens, output_tokens, cost_usd)
VALUES ($1, $2, $3, 1, $4, $5, $6)
ON CONFLICT (day, path, model) DO UPDATE
   SET calls = u.calls + 1,
       input_tokens = u.input_tokens + EXCLUDED.input_tokens,
       output_tokens = u.output_tokens + EXCLUDED.output_tokens,
       cost_usd = u.cost_usd + EXCLUDED.cost_usd,
       updated_at = now()
"""

_UPSERT_USER = """
INSERT INTO llm_usage_by_user AS u (day, user_id, calls, cost_usd) VALUES ($1, $2, 1, $3)
ON CONFLICT (day, user_id) DO UPDATE SET calls = u.calls + 1, cost_usd = u.cost_usd + EXCLUDED.cost_usd
"""

_TOTALS = """
SELECT coalesce(sum(cost_usd) FILTER (WHERE day = $1), 0) AS today,
       coalesce(sum(cost_usd) FILTER (WHERE day < $1), 0) AS window_total,
       (SELECT min(day) FROM llm_usage) AS first_day
  FROM llm_usage
 WHERE day >= $1 - $2::int AND day <= $1
"""


def today_utc() -> date:
    return datetime.now(timezone.utc).date()


def structured_log(severity: str, message: str, **fields: object) -> None:
    """One JSON line on stdout: Cloud Run forwards it to Cloud Logging with this severity."""
    entry = {"severity": severity, "message": message, **fields,
             "time": datetime.now(timezone.utc).isoformat()}
    sys.stdout.write(json.dumps(entry, default=str) + "\n")
    sys.stdout.flush()


def rolling_average(window_total: Decimal, first_day: date | None, day: date) -> Decimal:
    """The mean daily cost over the 7 days before `day`. Days without usage count as zero, but only days since
    the first recorded usage count at all: a new deployment is not compared with days it did not exist."""
    if first_day is None or first_day >= day:
        return Decimal(0)
    days = min(WINDOW_DAYS, (day - first_day).days)
    return Decimal(window_total) / days


def is_spike(today: Decimal, average: Decimal) -> bool:
    return average > 0 and Decimal(today) > SPIKE_FACTOR * average


def _validate(path: str, model: str, input_tokens: int, output_tokens: int, cost_usd: float) -> None:
    if not path or not model:
        raise ValueError("record_llm_usage: path and model must be non-empty")
    if input_tokens < 0 or output_tokens < 0 or cost_usd < 0:
        raise ValueError("record_llm_usage: tokens and cost must be non-negative")


async def record_llm_usage(
    pool, *, path: str, model: str, input_tokens: int, output_tokens: int, cost_usd: float,
    user_id: str | None = None,
) -> None:
    _validate(path, model, input_tokens, output_tokens, cost_usd)
    day = today_utc()
    try:
        alert = await _record(pool, day, path[:128], model[:128], int(input_tokens), int(output_tokens),
                              Decimal(str(cost_usd)), user_id)
    except Exception:
        log.exception("could not record LLM usage for path %s (%s); the call itself went through", path, model)
        return
    if alert is not None:
        today, average = alert
        structured_log(
            "WARNING",
            f"LLM cost spike: {today:.4f} USD today is more than {SPIKE_FACTOR}x the 7-day average "
            f"of {average:.4f} USD",
            alert="llm_cost_spike",
            day=day.isoformat(),
            cost_usd=float(today),
            rolling_avg_usd=float(average),
            threshold_usd=float(SPIKE_FACTOR * average),
            triggered_by_path=path,
            **{"logging.googleapis.com/labels": {"alert": "llm_cost_spike"}},
        )


async def record_usage(pool, path: str, usage: dict, user_id: str | None = None) -> None:
    """record_llm_usage for a usage dict as the LLM callers report it ({"model", "input_tokens", "output_tokens",
    "cost_usd"}; missing values count as 0); `user_id` is whose request made the call (None: system work)."""
    await record_llm_usage(pool, path=path, model=str(usage.get("model") or "unknown"),
                           input_tokens=int(usage.get("input_tokens") or 0),
                           output_tokens=int(usage.get("output_tokens") or 0),
                           cost_usd=float(usage.get("cost_usd") or 0.0), user_id=user_id)


async def _record(pool, day: date, path: str, model: str, input_tokens: int, output_tokens: int,
                  cost: Decimal, user_id: str | None) -> tuple[Decimal, Decimal] | None:
    """Upsert, then raise the day's alert at most once: the alert row's insert decides who raises it."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_UPSERT, day, path, model, input_tokens, output_tokens, cost)
        if user_id:
            await conn.execute(_UPSERT_USER, day, user_id, cost)
        row = await conn.fetchrow(_TOTALS, day, WINDOW_DAYS)
        average = rolling_average(row["window_total"], row["first_day"], day)
        if not is_spike(row["today"], average):
            return None
        raised = await conn.fetchval(
            "INSERT INTO llm_cost_alerts (day, cost_usd, rolling_avg_usd) VALUES ($1, $2, $3) "
            "ON CONFLICT (day) DO NOTHING RETURNING day",
            day, row["today"], average,
        )
        if raised is None:
            return None
        await conn.execute(
            "INSERT INTO ops_metrics AS m (name, day, value) VALUES ($1, $2, 1) "
            "ON CONFLICT (name, day) DO UPDATE SET value = m.value + 1, updated_at = now()",
            ALERT_METRIC, day,
        )
        return Decimal(row["today"]), average


async def spent_today(pool, day: date | None = None) -> Decimal:
    value = await pool.fetchval("SELECT coalesce(sum(cost_usd), 0) FROM llm_usage WHERE day = $1", day or today_utc())
    return Decimal(value)


async def llm_refusal(pool, user_id: str | None = None) -> str | None:
    """Why the LLM may not be called now for this user's request: "llm_budget_exhausted" (the day's budget is
    spent), "llm_user_share_spent" (this user's share of it is), or None (it may). Fails closed: if the
    spend cannot be read, the LLM is not called (the heuristic path is free; an unbounded bill is not)."""
    settings = get_settings()
    budget = Decimal(str(settings.daily_llm_budget_usd))
    try:
        row = await pool.fetchrow(
            "SELECT (SELECT coalesce(sum(cost_usd), 0) FROM llm_usage WHERE day = $1) AS total,"
            " (SELECT coalesce(sum(cost_usd), 0) FROM llm_usage_by_user WHERE day = $1 AND user_id = $2) AS mine",
            today_utc(), user_id or "")
    except Exception:
        log.exception("could not read today's LLM spend; treating the budget as exhausted")
        return "llm_budget_exhausted"
    if row["total"] >= budget:
        return "llm_budget_exhausted"
    if user_id and row["mine"] >= budget * Decimal(str(settings.llm_user_share)):
        return "llm_user_share_spent"
    return None


async def usage_for_day(pool, day: date) -> list[dict]:
    rows = await pool.fetch(
        "SELECT path, model, calls, input_tokens, output_tokens, cost_usd FROM llm_usage WHERE day = $1 "
        "ORDER BY path, model",
        day,
    )
    return [dict(r) for r in rows]

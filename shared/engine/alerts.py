"""The alert rules an operator can check now, as one registry: each rule says whether it would fire with the data
the stores hold at this moment, and with which inputs.

Why a registry: the rules are declared in different places (Pulumi's alert policies, the cost guard's spike rule,
the dead-letter hold), and the console's Alerts page should not need to know them. A rule is a function decorated
with `@rule(...)` in any module; the modules holding rules are listed once in `RULE_MODULES` (add yours there).
The engine's own rules are below; a domain's rules live in that domain (shared/domains/travel/alerts.py) so the
engine never imports a domain.

A rule answers `Check(state, summary, inputs)`: state "firing", "ok" or "no_data" (the input is not readable
here, e.g. a Cloud Monitoring metric on the local stack; never a guess).
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("concierge.alerts")

RULE_MODULES = ("shared.engine.alerts", "shared.domains.travel.alerts")
# infra/pulumi/program.py's recommendations latency policy (tests/unit/engine/test_alert_rules.py keeps them equal)
RECS_P99_ALERT_MS = 20.0


@dataclass
class Check:
    state: str                     # firing | ok | no_data
    summary: str
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    name: str
    title: str
    declared_in: str
    evaluate: Callable[[Any], Awaitable[Check]]


RULES: dict[str, Rule] = {}


def rule(name: str, title: str, declared_in: str):
    def register(fn: Callable[[Any], Awaitable[Check]]):
        RULES[name] = Rule(name, title, declared_in, fn)
        return fn

    return register


def load_rules() -> list[Rule]:
    for module in RULE_MODULES:
        importlib.import_module(module)
    return list(RULES.values())


async def evaluate_all(pool) -> list[dict[str, Any]]:
    """Every rule, evaluated now. A rule that fails to evaluate is reported as no_data with the error, so one
    broken input does not hide the others."""
    out = []
    for r in load_rules():
        try:
            check = await r.evaluate(pool)
        except Exception as exc:  # noqa: BLE001 - reported on the page, never a 500 for the whole list
            log.warning("alert rule %s failed: %s", r.name, exc)
            check = Check("no_data", f"could not evaluate: {type(exc).__name__}: {exc}"[:300])
        out.append({"name": r.name, "title": r.title, "declared_in": r.declared_in, "state": check.state,
                    "summary": check.summary, "inputs": check.inputs})
    return out


@rule("llm_cost_spike", "LLM cost today above twice the rolling 7-day average", "shared/engine/cost_guard.py")
async def _llm_cost_spike(pool) -> Check:
    from shared.engine.cost_guard import SPIKE_FACTOR, WINDOW_DAYS, _TOTALS, is_spike, rolling_average, today_utc

    day = today_utc()
    row = await pool.fetchrow(_TOTALS, day, WINDOW_DAYS)
    if row["first_day"] is None:
        return Check("no_data", "no LLM usage recorded yet", {"today_usd": 0.0})
    today = row["today"]
    average = rolling_average(row["window_total"], row["first_day"], day)
    inputs = {"today_usd": float(today), "rolling_average_usd": float(average),
              "alert_line_usd": float(average * SPIKE_FACTOR), "first_usage_day": row["first_day"].isoformat()}
    if average == 0:
        return Check("ok", "no earlier days to compare with (the rule needs history)", inputs)
    firing = is_spike(today, average)
    return Check("firing" if firing else "ok",
                 f"today ${float(today):.4f} vs line ${float(average * SPIKE_FACTOR):.4f}", inputs)


@rule("signals_dead_letters", "Signal messages waiting on the dead-letter hold", "infra/pulumi/resources.yaml")
async def _dead_letters(pool) -> Check:
    import asyncio

    from shared.engine.events.dead_letter_hold import list_held

    held = await asyncio.to_thread(list_held, 1000)
    inputs = {"waiting": len(held), "oldest_published": min((m["published"] or "" for m in held), default=None)}
    if held:
        return Check("firing", f"{len(held)} dead letter(s) waiting: fix the cause, then replay", inputs)
    return Check("ok", "the hold is empty", inputs)


@rule("recs_p99_latency", f"Recommendations p99 latency above {RECS_P99_ALERT_MS:.0f} ms",
      "infra/pulumi/program.py (_monitoring)")
async def _recs_latency(pool) -> Check:
    return Check("no_data", "its input is the Cloud Monitoring log metric recs_request_latency_ms (5-minute p99), "
                 "which exists only in the cloud; Cloud Monitoring evaluates this policy there",
                 {"metric": "logging.googleapis.com/user/recs_request_latency_ms", "threshold_ms": RECS_P99_ALERT_MS,
                  "window": "300s"})

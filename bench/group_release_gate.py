"""The group planner's release gate (issue 13): run the golden set and refuse a release that breaks a constraint
or says something the data does not support.

    .venv/bin/python bench/group_release_gate.py [--scenarios bench/golden/group_scenarios.json] [--limit N]

Needs the eight cities seeded in the Postgres of DATABASE_URL (the local stack's by default; see
bench/itinerary_quality.py for seeding). For each scenario it finds the day's best window where a quorum is free
(availability.common_windows over the members' busy intervals), plans the five options (spectrum.spectrum) and
checks each one against the catalogue (spectrum.check_option), then writes bench/results/group_release_gate.json:
- constraint satisfaction: the share of options with no broken constraint (budget, diet, access, opening hours,
  availability of every attendee, hops, the stop kinds). Target 100%;
- explanation faithfulness: the share of claims the venue data supports, with requirements left unexplained
  counted as unsupported. Target 1.0;
- relevancy: for members who stated tastes, the share of (option, member) pairs where the option serves at least
  one of them (a taste claim with evidence);
- feasibility: the share of scenarios planned; the rest say why (no window, or the constraint that left fewer
  than five plans: a refusal with a reason, never a plan that breaks the constraint), with an alert below
  MIN_PLANNED;
- slices by group size, city, budget level and member role (owner or not): mean predicted satisfaction and
  violations, with an alert when a slice's satisfaction is more than SLICE_ALERT below the overall mean;
- drift: the total variation distance between this run's option mix (stop kinds and venue types) and the mix in
  the previous result file, with an alert above DRIFT_ALERT.
The gate passes on 100% constraint satisfaction and faithfulness 1.0 (issue 13's criteria), five distinct
options in every planned scenario and at least one planned scenario; alerts are reported for a person to read. Its exit status says so (0 passed, 1 failed).

Tool calls (shared.domains.groups.assistant: Claude choosing find_windows, plan_options, plan_carpools, finish):
--tool-sessions N conversations (on golden scenarios the deterministic planner can plan) run against the local
Anthropic fake (tests/fakes/anthropic_server.py) standing
in for a tool-using model, with failures injected at fixed rates (INJECT: overloaded 529s and 500s, which the
client retries; replies that call no tool; tool calls with an invalid argument, which the assistant answers as
an error result so the model can correct it). It reports, for the model's decisions (steps: a tool call that
executed within assistant.REPAIRS retries), the share that succeeded (target: more than 95%), the raw share of
single attempts that were valid, and the share of conversations that ended with a plan. What this measures is the
harness's resilience to those failures, not Claude's judgement: the fake's choices are scripted.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from shared.domains.groups.availability import MemberBusy, can_come, common_windows  # noqa: E402
from shared.domains.groups.spectrum import (GroupHistory, Member, NotEnoughOptions, OutingWindow,  # noqa: E402
                                            check_option, spectrum, unfaithful_claims)
from shared.domains.travel.trips.tags import parse_tags  # noqa: E402

GOLDEN = REPO / "bench" / "golden" / "group_scenarios.json"
RESULT = REPO / "bench" / "results" / "group_release_gate.json"
MIN_PLANNED = 0.8
SLICE_ALERT = 0.1
DRIFT_ALERT = 0.2
KM_PER_DEG = 111.0
DAY = ("08:00", "23:00")

Catalogue = Callable[[str], tuple[list, tuple[float, float], ZoneInfo]]   # city -> (venues, centre, zone)
Planner = Callable[..., list]


def _local(day: dt.date, hhmm: str, tz: ZoneInfo) -> dt.datetime:
    h, m = map(int, hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(h, m), tz)


def members_of(s: dict, centre: tuple[float, float]) -> list[Member]:
    out = []
    for m in s["members"]:
        dx, dy = m["home_km"]
        home = (centre[0] + dy / KM_PER_DEG, centre[1] + dx / (KM_PER_DEG * math.cos(math.radians(centre[0]))))
        prefs = {t: 1.0 for t in parse_tags(m["tags"]).all}
        out.append(Member(m["id"], prefs, frozenset(m["diet"]), frozenset(m["access"]), m["budget"], home, m["seats"]))
    return out


def busy_of(s: dict, day: dt.date, tz: ZoneInfo) -> list[MemberBusy]:
    return [MemberBusy(m["id"], tz, [(_local(day, a, tz), _local(day, b, tz)) for a, b in m["busy"]])
            for m in s["members"]]


def plan_one(s: dict, catalogue: Catalogue, planner: Planner) -> dict:
    """One scenario's outcome: the options and every problem found in them, or why there are none."""
    venues, centre, tz = catalogue(s["city"])
    day = dt.date.fromisoformat(s["day"])
    members = members_of(s, centre)
    busy = busy_of(s, day, tz)
    found = common_windows(busy, _local(day, DAY[0], tz), _local(day, DAY[1], tz),
                           dt.timedelta(minutes=s["minutes"]), s["quorum"], limit=1)
    if not found:
        return {"id": s["id"], "planned": False, "reason": "no_window"}
    w = found[0]
    coming = [m for m in members if m.user_id in w.attendees]
    window = OutingWindow(w.start, w.end, tz)
    try:
        options = planner(venues, coming, window, GroupHistory(), s["aggregation"])
    except NotEnoughOptions as exc:
        return {"id": s["id"], "planned": False, "reason": f"not_enough_options:{exc.constraint}"}
    by_id = {v.id: v for v in venues}
    out = []
    for o in options:
        unfaithful = unfaithful_claims(o, coming, by_id)
        broken = [p for p in check_option(o, coming, by_id, window) if p not in unfaithful]
        broken += [f"{b.user_id} is not free" for b in busy if b.user_id in w.attendees
                   and not can_come(b, w.start, w.end)]
        claims = sum(len(cs) for cs in o.explanations.values())
        served = {m.user_id: any(c.kind == "taste" for c in o.explanations.get(m.user_id, ())) for m in coming
                  if m.preferences}
        out.append({"rank": o.rank, "venues": sorted(o.venue_ids), "broken": broken, "unfaithful": unfaithful, "claims": claims, "served": served,
                    "satisfaction": dict(o.satisfaction),
                    "mix": [f"{st.role}:{by_id[st.venue_id].extra.get('venue_type') or st.category}" for st in o.stops
                            if st.venue_id in by_id]})
    return {"id": s["id"], "planned": True, "attendees": list(w.attendees), "options": out}


def _mean(xs: Sequence[float]) -> float | None:
    return round(sum(xs) / len(xs), 4) if xs else None


def summarise(scenarios: list[dict], outcomes: list[dict], previous_mix: dict | None) -> dict:
    options = [o for r in outcomes if r["planned"] for o in r["options"]]
    claims = sum(o["claims"] for o in options)
    unfaithful = sum(len(o["unfaithful"]) for o in options)
    served = [v for o in options for v in o["served"].values()]
    planned = sum(r["planned"] for r in outcomes)
    reasons = Counter(r["reason"] for r in outcomes if not r["planned"])
    by_id = {s["id"]: s for s in scenarios}

    # slices: every attendee's mean satisfaction over the five options, and the options that broke something
    slices: dict[str, dict[str, dict[str, list]]] = defaultdict(lambda: defaultdict(lambda: {"sat": [], "broken": 0}))
    member_sat = []
    for r in outcomes:
        if not r["planned"]:
            continue
        s = by_id[r["id"]]
        keys = {"group_size": str(len(s["members"])), "city": s["city"], "budget_level": s["budget_level"]}
        broken = sum(bool(o["broken"] or o["unfaithful"]) for o in r["options"])
        for m in s["members"]:
            if m["id"] not in r["attendees"]:
                continue
            sat = sum(o["satisfaction"][m["id"]] for o in r["options"]) / len(r["options"])
            member_sat.append(sat)
            for dim, value in {**keys, "role": m["role"]}.items():
                slices[dim][value]["sat"].append(sat)
        for dim, value in keys.items():
            slices[dim][value]["broken"] += broken
    overall = _mean(member_sat) or 0.0
    sliced, alerts = {}, []
    for dim, values in slices.items():
        sliced[dim] = {}
        for value, acc in sorted(values.items()):
            mean = _mean(acc["sat"])
            sliced[dim][value] = {"members": len(acc["sat"]), "mean_satisfaction": mean,
                                  "options_with_violations": acc["broken"]}
            if mean is not None and mean < overall - SLICE_ALERT:
                alerts.append(f"{dim}={value}: mean satisfaction {mean} is more than {SLICE_ALERT} below {overall}")
            if acc["broken"]:
                alerts.append(f"{dim}={value}: {acc['broken']} options with violations")

    mix = Counter(k for o in options for k in o["mix"])
    total = sum(mix.values()) or 1
    mix_share = {k: round(v / total, 4) for k, v in sorted(mix.items())}
    drift = None
    if previous_mix:
        keys = set(mix_share) | set(previous_mix)
        drift = round(0.5 * sum(abs(mix_share.get(k, 0.0) - previous_mix.get(k, 0.0)) for k in keys), 4)
        if drift > DRIFT_ALERT:
            alerts.append(f"option mix drifted {drift} (total variation) from the previous release")

    constraint = (sum(not o["broken"] for o in options) / len(options)) if options else 0.0
    planned_runs = [r for r in outcomes if r["planned"]]
    distinct = (sum(len({tuple(o["venues"]) for o in r["options"]}) == len(r["options"]) for r in planned_runs)
                / len(planned_runs)) if planned_runs else 0.0
    faithfulness = 1.0 - unfaithful / claims if claims else 0.0
    feasibility = planned / len(outcomes) if outcomes else 0.0
    checks = {"constraint_satisfaction": (round(constraint, 4), 1.0, constraint == 1.0),
              "explanation_faithfulness": (round(faithfulness, 4), 1.0, faithfulness == 1.0 and unfaithful == 0),
              "five_distinct_options": (round(distinct, 4), 1.0, distinct == 1.0)}
    if feasibility < MIN_PLANNED:
        alerts.append(f"only {feasibility:.0%} of scenarios got five options (target {MIN_PLANNED:.0%}); "
                      f"not planned: {dict(reasons)}")
    examples = [f"{r['id']} option {o['rank']}: {p}" for r in outcomes if r["planned"] for o in r["options"]
                for p in (o["broken"] + o["unfaithful"])][:20]
    return {
        "scenarios": len(outcomes), "planned": planned, "feasibility": round(feasibility, 4),
        "not_planned": dict(reasons), "options": len(options),
        "claims": claims, "unfaithful_claims": unfaithful,
        "relevancy": _mean([float(v) for v in served]),
        "mean_satisfaction": overall,
        "checks": {k: {"value": v, "target": t, "met": bool(m)} for k, (v, t, m) in checks.items()},
        "passed": planned > 0 and all(m for _, _, m in checks.values()),
        "slices": sliced, "alerts": alerts, "option_mix": mix_share, "drift_from_previous": drift,
        "problem_examples": examples,
        "tool_calls": {"measured": False, "reason": "run with --tool-sessions N"},
    }


def run_gate(scenarios: list[dict], catalogue: Catalogue, planner: Planner = spectrum,
             previous_mix: dict | None = None, progress=lambda _m: None) -> dict:
    outcomes = []
    for i, s in enumerate(scenarios, 1):
        outcomes.append(plan_one(s, catalogue, planner))
        if i % 20 == 0:
            progress(f"  {i}/{len(scenarios)} scenarios")
    return summarise(scenarios, outcomes, previous_mix)


INJECT = {"overloaded": 0.08, "server_error": 0.03, "no_tool": 0.03, "bad_argument": 0.05}
TOOL_TARGET = 0.95


def _scripted_model(rng):
    """A responder for the Anthropic fake that behaves like a tool-using model: find the windows, plan the best
    one, check its carpools, finish; after an error result it repeats the call with a valid argument. Failures
    are injected at the INJECT rates."""
    from tests.fakes.anthropic_server import overloaded, server_error, text_reply, tool_use

    def respond(request: dict):
        draw = rng.random()
        if draw < INJECT["overloaded"]:
            return overloaded()
        if draw < INJECT["overloaded"] + INJECT["server_error"]:
            return server_error()
        if draw < INJECT["overloaded"] + INJECT["server_error"] + INJECT["no_tool"]:
            return text_reply("Let me think about the best time for everyone.")
        calls, results = [], {}
        for m in request["messages"]:
            for block in m["content"] if isinstance(m["content"], list) else []:
                if block.get("type") == "tool_use":
                    calls.append(block)
                elif block.get("type") == "tool_result":
                    results[block["tool_use_id"]] = block
        done = [c for c in calls if not results.get(c["id"], {}).get("is_error")]
        names = [c["name"] for c in done]
        bad = rng.random() < INJECT["bad_argument"]
        if "find_windows" not in names:
            return tool_use("find_windows", {"weeks": 99 if bad else 1})
        windows = json.loads(results[next(c["id"] for c in done if c["name"] == "find_windows")]["content"])
        if not windows["windows"]:
            return tool_use("finish", {"window_start": "none", "message": "No time works."})
        start = windows["windows"][0]["start"]
        if "plan_options" not in names:
            return tool_use("plan_options", {"window_start": "tomorrow evening" if bad else start})
        if "plan_carpools" not in names:
            return tool_use("plan_carpools", {"option": 7 if bad else 0})
        return tool_use("finish", {"window_start": start, "message": "Five options for the best evening; vote!"})

    return respond


def tool_call_trial(scenarios: list[dict], catalogue: Catalogue, sessions: int, seed: int = 13) -> dict:
    """Conversations of the assistant against the Anthropic fake with injected failures (see the module doc)."""
    import random

    from shared.adapters.anthropic_client import AnthropicClient
    from shared.domains.groups.assistant import AssistantFailed, PlanningInputs, plan_with_tools, steps
    from tests.fakes.anthropic_server import FakeAnthropic

    rng = random.Random(seed)
    calls = ok_calls = finished = tried = 0
    decided: list[bool] = []
    failures: Counter = Counter()
    with FakeAnthropic(responder=_scripted_model(rng)) as fake:
        client = AnthropicClient(api_key="fake-key", base_url=fake.base_url, sleep=lambda _s: None)
        for s in scenarios:
            if tried == sessions:
                break
            if not plan_one(s, catalogue, spectrum)["planned"]:
                continue  # no window or too few options: the tools cannot plan it either (feasibility says why)
            venues, centre, tz = catalogue(s["city"])
            day = dt.date.fromisoformat(s["day"])
            inputs = PlanningInputs(members_of(s, centre), busy_of(s, day, tz), venues, tz, GroupHistory(),
                                    s["aggregation"], s["quorum"], s["minutes"], _local(day, DAY[0], tz), 1)
            tried += 1
            try:
                made = plan_with_tools(inputs, client).calls
                finished += 1
            except AssistantFailed as exc:
                failures[str(exc).split(":")[0]] += 1
                made = exc.calls
            calls += len(made)
            ok_calls += sum(c.ok for c in made)
            decided += steps(made)
        requests = len(fake.requests)
    rate = sum(decided) / len(decided) if decided else 0.0
    return {"measured": True, "sessions": tried, "finished_with_a_plan": finished,
            "session_success": round(finished / tried, 4) if tried else None,
            "steps": len(decided), "steps_ok": sum(decided), "tool_call_success": round(rate, 4),
            "attempts": calls, "attempts_valid": ok_calls,
            "attempt_validity": round(ok_calls / calls, 4) if calls else None,
            "target": TOOL_TARGET, "met": rate > TOOL_TARGET, "api_requests": requests,
            "injected_rates": INJECT, "sessions_failed": dict(failures),
            "note": "the model's choices are scripted (a fake): this measures the harness under injected failures"}


def postgres_catalogue(database_url: str, cities: set[str]) -> Catalogue:
    """Every city's plannable, located venues, its centre and its zone, read once."""
    from shared.adapters.postgres import create_pool
    from shared.domains.groups.cycles import city_venues
    from shared.domains.groups.membership import city_zone

    async def load():
        pool = await create_pool(database_url, min_size=1, max_size=1)
        out = {}
        try:
            async with pool.acquire() as conn:
                for city in sorted(cities):
                    row = await conn.fetchrow("SELECT lat, lon FROM cities WHERE id = $1 AND seeded_at IS NOT NULL",
                                              city)
                    if row is None:
                        raise SystemExit(f"{city} is not seeded; seed it: python -m jobs.seed_city.main --city {city}")
                    out[city] = (await city_venues(conn, city), (row["lat"], row["lon"]), city_zone(city, row["lon"]))
        finally:
            await pool.close()
        return out

    loaded = asyncio.run(load())
    return lambda city: loaded[city]


def main(argv: list[str] | None = None) -> int:
    from _common import machine, write_result

    from shared.settings import get_settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenarios", type=Path, default=GOLDEN)
    ap.add_argument("--limit", type=int, default=None, help="the first N scenarios only (a smoke run)")
    ap.add_argument("--database-url", default=None, help="default: settings (DATABASE_URL)")
    ap.add_argument("--tool-sessions", type=int, default=60,
                    help="assistant conversations against the Anthropic fake (0: skip; default 60)")
    args = ap.parse_args(argv)
    golden = json.loads(args.scenarios.read_text())
    scenarios = golden["scenarios"][: args.limit]
    started = time.perf_counter()
    print(f"group release gate: {len(scenarios)} scenarios (golden set v{golden['version']})", flush=True)
    catalogue = postgres_catalogue(args.database_url or get_settings().database_url, {s["city"] for s in scenarios})
    previous = json.loads(RESULT.read_text()).get("option_mix") if RESULT.exists() else None
    summary = run_gate(scenarios, catalogue, previous_mix=previous, progress=lambda m: print(m, flush=True))
    if args.tool_sessions:
        print(f"tool calls: {args.tool_sessions} conversations against the Anthropic fake", flush=True)
        summary["tool_calls"] = tool_call_trial(scenarios, catalogue, args.tool_sessions)
        summary["checks"]["tool_call_success"] = {"value": summary["tool_calls"]["tool_call_success"],
                                                  "target": TOOL_TARGET, "met": summary["tool_calls"]["met"]}
        summary["passed"] = summary["passed"] and summary["tool_calls"]["met"]
    payload = {"benchmark": "group_release_gate", "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(),
               "machine": machine(), "golden_set": {"file": str(args.scenarios.relative_to(REPO)),
                                                    "version": golden["version"], "limit": args.limit},
               "seconds": round(time.perf_counter() - started, 1), **summary}
    if args.limit is None:
        write_result("group_release_gate", payload)
    for name, c in summary["checks"].items():
        print(f"  {'ok  ' if c['met'] else 'FAIL'} {name:28} {c['value']}  target {c['target']}")
    print(f"  relevancy {summary['relevancy']}, mean satisfaction {summary['mean_satisfaction']}, "
          f"not planned {summary['not_planned']}, drift {summary['drift_from_previous']}")
    for alert in summary["alerts"]:
        print(f"  alert: {alert}")
    print("PASSED" if summary["passed"] else "FAILED")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

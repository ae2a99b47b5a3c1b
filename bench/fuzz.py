"""Contract fuzzing of every operation in infra/pulumi/openapi.yaml, through the local stack's gateway.

schemathesis generates requests from the document (positive: data the schemas allow; negative: data they refuse)
and every response is checked: no 5xx, a documented status, a documented Content-Type, the documented headers and
a body that matches the response schema. Generation is seeded, so a run is reproducible; each failure is recorded
with a curl command that reproduces it.

Deeper than path-id fuzzing: before fuzzing, one trip is planned in a small synthetic city (the fuzz user's own,
with real slots), one seeding run recorded and two models registered (production and shadow). Every second
generated case on an operation with such path ids uses the real ones instead, and every fourth body the real city,
dates and venue, trip and slot ids, so planning, swaps, pivots, signals, promotions, rollbacks and the trip and run
views answer with real bodies, not only 404s and 400s.

What schemathesis cannot check in full, and why (the stream is also checked by hand in tests/integration/foundation/
test_contract_fuzz.py): GET /v1/trips/{trip_id}/pivots/stream is a server-sent event stream that stays open for
duration_s, which schemathesis cannot read incrementally; the driver still sends it generated cases whose
duration_s is capped at 0.2 s and checks status and Content-Type, but not a body schema (an event stream has none).
POST /v1/admin/models/learn is fuzzed with a small budget only (LEARN_EXAMPLES): each accepted call starts a
real learning-loop run (a subprocess on the training queue) on the stack.

Run: .venv/bin/python bench/fuzz.py [--requests 10000] [--seed 12]   ->   bench/results/fuzz.json
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

SEED = 12
FUZZ_USER = "fuzz-user"
DELETE_USER = "fuzz-deleted-user"   # DELETE /v1/users/me is fuzzed as someone else: it would delete the trip
STREAM_MAX_S = 0.2
LEARN_EXAMPLES = 4
REQUEST_TIMEOUT_S = 60
CITY = "fuzz-testville"


@dataclass
class Fixtures:
    """Real values the fuzz user owns: `path` ids are substituted into every second generated case that has such
    a path id, `body` fields into every fourth generated body (and each signal of a batch) that has such a field,
    so generated requests also reach the code behind the id and reference checks."""
    path: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)

    def apply_to_body(self, body: Any) -> Any:
        if not isinstance(body, dict):
            return body
        out = {k: (self.body[k] if k in self.body else v) for k, v in body.items()}
        if isinstance(out.get("signals"), list):
            out["signals"] = [self.apply_to_body(item) for item in out["signals"]]
        return out


@dataclass
class Report:
    requests: int = 0
    per_operation: Counter = field(default_factory=Counter)
    statuses: dict[str, Counter] = field(default_factory=dict)
    server_errors: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self, max_failures: int = 50) -> dict[str, Any]:
        unique: dict[tuple, dict] = {}
        for f in self.failures:
            unique.setdefault((f["operation"], f["check"], f["status"]), {**f, "occurrences": 0})
            unique[(f["operation"], f["check"], f["status"])]["occurrences"] += 1
        return {
            "requests": self.requests, "per_operation": dict(sorted(self.per_operation.items())),
            "statuses": {op: dict(sorted(c.items())) for op, c in sorted(self.statuses.items())},
            "server_errors": self.server_errors, "conformance_failures": len(self.failures),
            "distinct_failures": list(unique.values())[:max_failures], "seconds": round(self.seconds, 1),
            "requests_per_s": round(self.requests / self.seconds, 1) if self.seconds else None,
        }


def tool_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("schemathesis", "hypothesis", "pydantic", "openapi-spec-validator")} | {
        "python": platform.python_version()}


def load_schema(gateway_url: str):
    """The document the gateway routes by (as the gateway serves it), with the gateway as the base URL."""
    import schemathesis

    from infra.pulumi.openapi import backends_named, render

    document = render({name: "http://backend.invalid" for name in backends_named()}, "concierge-local")
    document["schemes"] = ["http"]
    document["host"] = gateway_url.split("://", 1)[1]
    return schemathesis.openapi.from_dict(document)


def checks():
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                                   response_schema_conformance, status_code_conformance)

    def content_type_of_a_body(ctx, response, case):
        """content_type_conformance, except for an empty response documented without a schema (DELETE's 204):
        Swagger 2.0 declares `produces` per operation, not per status, so the check would demand a media type
        for a response that has no content (and rightly sends no Content-Type)."""
        documented = case.operation.responses.find_by_status_code(response.status_code)
        if documented is not None and "schema" not in documented.definition and not response.content:
            return None
        return content_type_conformance(ctx, response, case)

    content_type_of_a_body.__name__ = "content_type_conformance"
    return [not_a_server_error, status_code_conformance, content_type_of_a_body, response_headers_conformance,
            response_schema_conformance]


def _check_name(failure: Any) -> str:
    return f"{type(failure).__name__}: {getattr(failure, 'title', '')}"


def fuzz(gateway_url: str, admin_token: str, *, examples: int, seed: int = SEED, fixtures: Fixtures | None = None,
         operations: set[str] | None = None, budgets: dict[str, int] | None = None,
         progress=lambda _m: None) -> Report:
    """Run `examples` generated cases (at most; small input spaces give fewer) per operation and generation mode."""
    import hypothesis
    import requests
    from hypothesis import HealthCheck, Phase
    from schemathesis import GenerationMode
    from schemathesis.core.failures import FailureGroup

    schema = load_schema(gateway_url)
    fixtures = fixtures or Fixtures()
    report = Report()
    session = requests.Session()
    run_checks = checks()
    started = time.perf_counter()
    counter = [0]
    for result in schema.get_all_operations():
        op = result.ok()
        op_id = op.definition.raw.get("operationId", op.label)
        if operations and op_id not in operations:
            continue
        budget = (budgets or {}).get(op_id, examples)
        if op_id == "runLearningLoop":
            budget = min(budget, LEARN_EXAMPLES)
        report.statuses.setdefault(op_id, Counter())

        def make(op, op_id, mode):
            def one(case) -> None:
                counter[0] += 1
                user = DELETE_USER if op_id == "deleteMe" else FUZZ_USER
                headers = {"Authorization": f"Bearer {user}"}
                if "X-Admin-Token" in (case.headers or {}) or op.path.startswith("/v1/admin/"):
                    case.headers = {**(case.headers or {}), "X-Admin-Token": admin_token}
                if counter[0] % 2 == 0:
                    for name in case.path_parameters or {}:
                        if name in fixtures.path:
                            case.path_parameters[name] = fixtures.path[name]
                if counter[0] % 4 == 0 and fixtures.body:
                    case.body = fixtures.apply_to_body(case.body)
                stream = op_id == "streamPivots"
                if stream:
                    try:
                        duration = float((case.query or {}).get("duration_s", 20))
                    except (TypeError, ValueError):
                        duration = None
                    if duration is not None and duration > STREAM_MAX_S:
                        case.query = {**(case.query or {}), "duration_s": STREAM_MAX_S}
                try:
                    response = case.call(base_url=gateway_url, session=session, headers=headers,
                                         timeout=REQUEST_TIMEOUT_S)
                except requests.RequestException as exc:
                    report.requests += 1
                    report.per_operation[op_id] += 1
                    report.failures.append({"operation": op_id, "mode": mode.value, "check": "transport",
                                            "status": None, "message": f"{type(exc).__name__}: {exc}"[:500],
                                            "curl": case.as_curl_command(headers=headers, base_url=gateway_url)})
                    return
                report.requests += 1
                report.per_operation[op_id] += 1
                report.statuses[op_id][str(response.status_code)] += 1
                if response.status_code >= 500:
                    report.server_errors += 1
                try:
                    case.validate_response(response, checks=run_checks, headers=headers)
                except FailureGroup as group:
                    for failure in group.exceptions:
                        report.failures.append({
                            "operation": op_id, "mode": mode.value, "check": _check_name(failure),
                            "status": response.status_code,
                            "message": (getattr(failure, "message", None) or str(failure))[:1500],
                            "response": response.text[:800], "curl": case.as_curl_command(headers=headers, base_url=gateway_url)})
                except AssertionError as exc:  # a check that asserts rather than raising its Failure type
                    report.failures.append({"operation": op_id, "mode": mode.value, "check": "assertion",
                                            "status": response.status_code, "message": str(exc)[:1500],
                                            "response": response.text[:800],
                                            "curl": case.as_curl_command(headers=headers, base_url=gateway_url)})

            return one

        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            test = hypothesis.given(case=op.as_strategy(mode))(make(op, op_id, mode))
            test = hypothesis.settings(
                max_examples=budget, database=None, deadline=None, derandomize=False, phases=[Phase.generate],
                suppress_health_check=list(HealthCheck), verbosity=hypothesis.Verbosity.quiet)(test)
            test = hypothesis.seed(seed)(test)
            try:
                test()
            except hypothesis.errors.Unsatisfiable:
                pass  # the mode has nothing to generate here (e.g. no negative data for an operation without input)
        progress(f"  {op_id}: {report.per_operation[op_id]} requests, statuses {dict(report.statuses[op_id])}")
    report.seconds = time.perf_counter() - started
    return report


# --- preparing the stack: a small synthetic city and one real trip ----------------------------------------------
def prepare(stack, admin_token: str) -> Fixtures:
    """A synthetic city, one planned trip of the fuzz user's and one recorded seeding run: the real ids."""
    import datetime as dt

    import httpx

    from tests.synthetic_city import index_city, store_city
    from tests.unit.trips.trips_synthetic import make_venues

    venues = list(make_venues(96, seed=11).values())
    venues_at = [(v.lat, v.lon) for v in venues]
    asyncio.run(store_city(stack.env["DATABASE_URL"], CITY, "Fuzzville", venues, drop_trips=False))
    index_city(CITY, venues)
    start = dt.date.today() + dt.timedelta(days=30)
    body = {"city": CITY, "start_date": start.isoformat(), "end_date": (start + dt.timedelta(days=2)).isoformat(),
            "tags": {"food": ["coffee"], "interests": ["museums"], "pace": "moderate"}}
    user = {"Authorization": f"Bearer {FUZZ_USER}"}
    resp = httpx.post(f"{stack.gateway_url}/v1/trips", json=body, headers=user, timeout=120)
    resp.raise_for_status()
    trip = resp.json()
    slots = [s["slot_id"] for d in trip["days"] for s in d["slots"]]
    venues = [s["venue"]["id"] for d in trip["days"] for s in d["slots"]]
    fixtures = Fixtures({"trip_id": trip["trip_id"]},
                        {"city": CITY, "start_date": body["start_date"], "end_date": body["end_date"],
                         "trip_id": trip["trip_id"], "user_id": FUZZ_USER})
    if slots:
        fixtures.path["slot_id"] = fixtures.body["slot_id"] = slots[len(slots) // 2]
        fixtures.body["activity_node_id"] = venues[0]
    fixtures.path["run_id"] = asyncio.run(_record_run(stack.env["DATABASE_URL"]))
    group = httpx.post(f"{stack.gateway_url}/v1/groups", headers=user, timeout=120, json={
        "name": "Fuzz friends", "city": CITY, "monthly_budget": 100, "quorum": 1,
        "me": {"home": {"lat": venues_at[0][0], "lon": venues_at[0][1]}, "seats": 2}})
    group.raise_for_status()
    fixtures.path["group_id"], fixtures.body["code"] = group.json()["id"], group.json()["invite"]["code"]
    cycle = httpx.post(f"{stack.gateway_url}/v1/groups/{fixtures.path['group_id']}/cycles", headers=user,
                       json={}, timeout=120)
    if cycle.status_code == 201:  # the synthetic city may have too few venues open for five options: then no cycle
        fixtures.path["cycle_id"] = cycle.json()["id"]
    fixtures.path.update(asyncio.run(_register_models(stack.env["DATABASE_URL"])))
    return fixtures


async def _register_models(dsn: str) -> dict[str, str]:
    """A model in production and a newer one in shadow: promote and rollback reach the registry (the first
    promotion succeeds, a rollback can then put the old one back, and the rest meet a 409 or a 404)."""
    from shared.adapters.postgres import create_pool
    from shared.engine.registry.store import register_candidate, transition

    name = f"fuzz-model-{uuid.uuid4().hex[:6]}"
    pool = await create_pool(dsn)
    try:
        for version, target in (("v0", "production"), ("v1", "shadow")):
            await register_candidate(pool, name, version, f"gs://models/{name}/{version}")
            await transition(pool, name, version, "shadow")
            if target == "production":
                await transition(pool, name, version, "production")
    finally:
        await pool.close()
    return {"name": name, "version": "v1"}


async def _record_run(dsn: str) -> str:
    """A finished seeding run to read back (recorded directly: a real one would start seeding)."""
    import asyncpg

    run_id = f"seed-fuzz{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO seed_runs (id, city_id, sources, venue_limit, status, progress, summary, started_at, "
            "finished_at) VALUES ($1, $2, $3, 10, 'succeeded', $4::jsonb, $5::jsonb, now(), now())",
            run_id, CITY, ["wikivoyage"], '{"stage": "done", "done": 10, "total": 10}', '{"venues": 10}')
    finally:
        await conn.close()
    return run_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000, help="the least number of requests to send")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()

    from _common import forget_running_stack, lift_rate_limits, write_result

    from emulators.stack import Stack

    os.environ.setdefault("SIGNAL_PSEUDONYM_SALT", "bench-" + uuid.uuid4().hex)
    # the per-user rate limits (trips 20 per 10 min, ...) would answer most of 10,000 requests with a 429 and
    # hide the code behind them (they are tested in tests/integration/foundation/test_rate_limits.py)
    lift_rate_limits()
    forget_running_stack()
    state = Path(tempfile.mkdtemp(prefix="concierge-fuzz-bench-"))
    stack = None
    rounds = []
    total = Report()
    t0 = time.perf_counter()
    try:
        print("starting the local stack ...")
        stack = Stack(state_dir=state / "stack", dynamic_ports=True, scheduler=False, progress=lambda _m: None)
        stack.up()
        stack.export()
        token = stack.env["ADMIN_TOKEN"]
        fixtures = prepare(stack, token)
        print(f"stack up in {time.perf_counter() - t0:.0f}s; fixtures {fixtures.path}")
        # rounds with growing budgets and new seeds, until enough requests were sent
        round_no, examples = 0, 400
        while total.requests < args.requests:
            seed = args.seed + round_no
            print(f"round {round_no + 1}: up to {examples} examples per operation and mode, seed {seed}")
            rep = fuzz(stack.gateway_url, token, examples=examples, seed=seed, fixtures=fixtures, progress=print)
            rounds.append({"seed": seed, "examples_per_operation_and_mode": examples, **rep.as_dict(10)})
            total.requests += rep.requests
            total.per_operation.update(rep.per_operation)
            for op, c in rep.statuses.items():
                total.statuses.setdefault(op, Counter()).update(c)
            total.server_errors += rep.server_errors
            total.failures += rep.failures
            total.seconds += rep.seconds
            print(f"  -> {rep.requests} requests in {rep.seconds:.0f}s ({rep.requests / rep.seconds:.1f}/s), "
                  f"{rep.server_errors} 5xx, {len(rep.failures)} conformance failures")
            round_no += 1
    finally:
        if stack is not None:
            stack.down(quiet=True)
        shutil.rmtree(state, ignore_errors=True)
    summary = total.as_dict()
    write_result("fuzz", {
        "config": {"seed": args.seed, "rounds": len(rounds), "min_requests": args.requests,
                   "generation_modes": ["positive", "negative"],
                   "checks": [c.__name__ for c in checks()],
                   "path": "schemathesis -> local gateway -> functions -> local stand-ins (loopback)",
                   "stream_duration_cap_s": STREAM_MAX_S, "learn_examples_per_mode": LEARN_EXAMPLES,
                   "fixture_substitution": "every second case uses the fuzz user's real trip, slot and run ids "
                                           "and a registered model's name and version; "
                                           "every fourth body its real city, dates, trip, slot and venue ids",
                   "rate_limits": {k[len("RATE_LIMIT_"):].lower(): v for k, v in os.environ.items()
                                   if k.startswith("RATE_LIMIT_")}},
        "tool_versions": tool_versions(),
        **summary,
        "rounds": rounds,
        "wall_seconds": round(time.perf_counter() - t0, 1),
    })
    ok = summary["server_errors"] == 0 and summary["conformance_failures"] == 0
    print(f"{summary['requests']} requests, {summary['server_errors']} 5xx, "
          f"{summary['conformance_failures']} conformance failures" + ("" if ok else "  FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""The fault matrix: one dependency down at a time, on a stack of its own (so the suite's shared stack is never
broken), and what each route answers meanwhile. Every answer is either the normal one, a degraded one that
says so, or a 503 with a reason; never a 500 or a gateway timeout. Every signal the API accepted during an
outage is stored once the dependency is back; the signals API itself needs Postgres (it checks the ids a
signal names) and Pub/Sub, so while either is down it accepts nothing (503: retry with the same event ids).

EXPECTED is the table in the README ("What still works when a dependency is down"); the test fails if the
stack behaves otherwise. The LLM and Places fakes failing are covered where those paths are tested
(tests/integration/trips/test_llm_paths.py, test_unseeded_trips.py): the heuristic ranker serves, labelled.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

from functions.health.main import HEALTH_CACHE_S

pytestmark = pytest.mark.integration

CITY = "seattle"
TRIP = {"city": "Seattle", "start_date": "2031-06-01", "end_date": "2031-06-02"}
ROUTES = ("health", "live", "signals", "create_trip", "get_trip", "swap", "stream")
# dependency -> route -> the status it answers while that dependency is down
EXPECTED = {
    "redis":    {"health": 503, "live": 200, "signals": 202, "create_trip": 201, "get_trip": 200, "swap": 200,
                 "stream": 503},
    "qdrant":   {"health": 503, "live": 200, "signals": 202, "create_trip": 201, "get_trip": 200, "swap": 200,
                 "stream": 200},
    "postgres": {"health": 503, "live": 200, "signals": 503, "create_trip": 503, "get_trip": 503, "swap": 503,
                 "stream": 503},
    "pubsub":   {"health": 503, "live": 200, "signals": 503, "create_trip": 201, "get_trip": 200, "swap": 200,
                 "stream": 200},
}


@pytest.fixture(scope="module")
def own_stack():
    """A stack that owns its Postgres, Redis and Qdrant (the session's are hidden while it starts), with Seattle
    seeded; the session's settings are put back afterwards."""
    from emulators.stack import EXTERNAL_SETTINGS, Stack

    hidden = {k: os.environ.pop(k) for k in EXTERNAL_SETTINGS if k in os.environ}
    state = Path(tempfile.mkdtemp(prefix="concierge-faults-"))
    stack = Stack(state_dir=state, dynamic_ports=True, scheduler=False, progress=lambda _m: None)
    try:
        stack.up()
        stack.export()
        seeded = subprocess.run([sys.executable, "-m", "jobs.seed_city.main", "--city", CITY, "--limit", "120"],
                                env={**os.environ, **stack.env}, capture_output=True, text=True, timeout=900)
        assert seeded.returncode == 0, seeded.stderr[-3000:]
        yield stack
    finally:
        stack.down(quiet=True)
        os.environ.update(hidden)
        from shared.settings import get_settings

        get_settings.cache_clear()
        shutil.rmtree(state, ignore_errors=True)


def _auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {user}"}


def _node_ids(stack, n: int) -> list[str]:
    import asyncpg

    async def go():
        conn = await asyncpg.connect(stack.env["DATABASE_URL"])
        try:
            return [r["id"] for r in await conn.fetch(
                "SELECT id FROM activity_nodes WHERE city_id = $1 ORDER BY id LIMIT $2", CITY, n)]
        finally:
            await conn.close()

    return asyncio.run(go())


def _stored(stack, event_ids: list[str]) -> int:
    import asyncpg

    async def go():
        conn = await asyncpg.connect(stack.env["DATABASE_URL"])
        try:
            return await conn.fetchval("SELECT count(*) FROM behavioral_signals WHERE event_id = ANY($1::text[])",
                                       event_ids)
        finally:
            await conn.close()

    return asyncio.run(go())


def _probe(client: httpx.Client, user: str, trip: dict, node: str, sent: list[str]) -> dict[str, httpx.Response]:
    """One request per route; every answer must be JSON (or the event stream) and never a 500."""
    slot = trip["days"][0]["slots"][0]["slot_id"]
    event = f"evt-{uuid.uuid4().hex}"
    out = {
        "health": client.get("/v1/health"),
        "live": client.get("/v1/health/live"),
        "signals": client.post("/v1/signals", headers=_auth(user), json={
            "event_id": event, "signal_type": "slot_accept", "activity_node_id": node, "trip_id": trip["trip_id"],
            "context": {"day_of_trip": 1, "day_part": "morning"}}),
        "create_trip": client.post("/v1/trips", headers=_auth(f"{user}-new-{uuid.uuid4().hex[:4]}"), json=TRIP),
        "get_trip": client.get(f"/v1/trips/{trip['trip_id']}", headers=_auth(user)),
        "swap": client.patch(f"/v1/trips/{trip['trip_id']}/slots/{slot}", headers=_auth(user), json={}),
    }
    with client.stream("GET", f"/v1/trips/{trip['trip_id']}/pivots/stream?duration_s=1", headers=_auth(user)) as s:
        s.read()
        out["stream"] = s
    if out["signals"].status_code == 202:
        sent.append(event)
    return out


@pytest.mark.parametrize("dependency", list(EXPECTED))
def test_each_route_degrades_or_says_why_while_a_dependency_is_down(own_stack, dependency):
    user = f"fault-{dependency}-{uuid.uuid4().hex[:6]}"
    node = _node_ids(own_stack, 1)[0]
    sent: list[str] = []
    with httpx.Client(base_url=own_stack.gateway_url, timeout=60) as client:
        created = client.post("/v1/trips", headers=_auth(user), json=TRIP)
        assert created.status_code == 201, created.text
        trip = created.json()
        own_stack.stop_dependency(dependency)
        time.sleep(HEALTH_CACHE_S + 0.5)  # an all-up health answer is shared for that long (functions/health)
        try:
            answers = _probe(client, user, trip, node, sent)
        finally:
            own_stack.start_dependency(dependency)
        seen = {route: answers[route].status_code for route in ROUTES}
        for route, resp in answers.items():
            assert resp.status_code != 500, (dependency, route, resp.text)
            if resp.status_code == 503 and route != "stream":
                body = resp.json()
                assert body.get("error", {}).get("message") or body.get("dependencies"), (route, resp.text)
        assert seen == EXPECTED[dependency], f"while {dependency} is down: {seen}"
        if dependency in ("redis", "qdrant") and answers["create_trip"].status_code == 201:
            made = answers["create_trip"].json()
            assert made["days"], made
            if not any(d["slots"] for d in made["days"]):  # no venues reachable: the trip says why
                assert made["fallback_reason"] or made["empty_reason"], made
        # once the dependency is back, every route answers normally again
        deadline = time.monotonic() + 60
        while client.get("/v1/health").status_code != 200 and time.monotonic() < deadline:
            time.sleep(1)
        assert client.get("/v1/health").status_code == 200, f"{dependency} did not come back"
    # nothing accepted is lost: what the signals API took while the dependency was down reaches Postgres
    deadline = time.monotonic() + 90
    while _stored(own_stack, sent) < len(sent) and time.monotonic() < deadline:
        time.sleep(1)
    assert _stored(own_stack, sent) == len(sent), f"accepted during the {dependency} outage, not stored"

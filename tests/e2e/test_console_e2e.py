"""The operator console in a real browser (Debian's headless Chromium, driven by Playwright) against the local stack.

It signs in with the admin credential, opens every page and saves a screenshot of each under bench/results/console/,
promotes a shadow model with the Promote button (confirming the prompt) and sees the registry change, opens a trip
and finds one map marker per located slot, and replays a dead letter whose signal then reaches Postgres. A second
test checks that every console route and admin API answers 401 without the credential.

Chromium runs headless with a fresh profile and every background network feature off (this machine has no network).
"""
from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import fetch, wait_rows

pytestmark = pytest.mark.e2e
SHOTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "console"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MODEL = "console_e2e_ranker"
TRIP = {"city": "Seattle", "start_date": "2031-07-07", "end_date": "2031-07-08",
        "tags": {"food": ["coffee"], "interests": ["museums"], "pace": "moderate"}}


CHROMIUM = "/usr/bin/chromium"  # Debian's package (make install); Playwright never downloads a browser here


def _chromium() -> str:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Debian's chromium is not installed at {CHROMIUM}: `make install` installs it (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser_page(seattle):
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="concierge-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=_chromium(), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800})
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(30_000)
        try:
            yield page
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def _apart(fn, *args):
    """fn(*args) on a worker thread: Playwright's sync API keeps an event loop running on this one, where
    asyncio.run (the database helpers) refuses to start."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def _query(dsn: str, sql: str, *args) -> list:
    return _apart(lambda: asyncio.run(fetch(dsn, sql, *args)))


def _registry_rows(dsn: str) -> dict[str, str]:
    rows = _query(dsn, "SELECT version, status FROM model_registry WHERE model_name = $1", MODEL)
    return {r["version"]: r["status"] for r in rows}


def _register_models(dsn: str) -> None:
    """A production model and a candidate the gate moved to shadow, each with evaluation figures (the registry's
    own API, as jobs/evaluate writes them)."""
    from shared.adapters.postgres import create_pool
    from shared.engine.registry.store import record_evaluation, register_candidate, transition

    async def go():
        pool = await create_pool(dsn)
        try:
            await pool.execute("DELETE FROM model_registry WHERE model_name = $1", MODEL)
            for version, (mean, low, high), status in (("v1", (0.21, 0.17, 0.25), "production"),
                                                       ("v2", (0.27, 0.22, 0.31), "shadow")):
                await register_candidate(pool, MODEL, version, f"gs://models/{MODEL}/{version}")
                await record_evaluation(pool, MODEL, version, "console-e2e", {
                    "metrics": {"ndcg@10": {"name": "ndcg@10", "mean": mean, "low": low, "high": high},
                                "hr@5": {"name": "hr@5", "mean": mean * 1.6, "low": low * 1.6, "high": high * 1.6}}})
                await transition(pool, MODEL, version, "shadow")
                if status == "production":
                    await transition(pool, MODEL, version, "production")
        finally:
            await pool.close()

    _apart(asyncio.run, go())


def _evaluation_report(stack) -> None:
    """A real evaluation report in the reports bucket: jobs/evaluate on MovieLens 100k with two baselines."""
    done = subprocess.run([sys.executable, "-m", "jobs.evaluate.main", "--dataset", "movielens-100k",
                           "--split", "stratified:0.75", "--baseline", "popularity", "--baseline", "item_knn",
                           "--candidates", "sampled:100", "--n-resamples", "200", "--no-registry"],
                          env=stack._child_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _past_llm_usage(dsn: str) -> list[float]:
    """LLM cost on the 8 days before today, through the cost guard's own write path (offline here, so nothing else
    records any): a quiet week, then yesterday's spike. Today stays untouched: today's budget and its alert are what
    other tests' trips consult. Answers the costs, oldest first."""
    from datetime import timedelta
    from decimal import Decimal

    from shared.adapters.postgres import create_pool
    from shared.engine.cost_guard import _record, today_utc

    costs = [Decimal("0.05") + Decimal(i) / 100 for i in range(7)] + [Decimal("0.40")]
    first = today_utc() - timedelta(days=len(costs))

    async def go():
        pool = await create_pool(dsn)
        try:
            for i, cost in enumerate(costs):
                await _record(pool, first + timedelta(days=i), "console-e2e", "claude-haiku", 1000, 200, cost, None)
        finally:
            await pool.close()

    _apart(asyncio.run, go())
    return [float(c) for c in costs]


def _forget_llm_usage(dsn: str) -> None:
    _query(dsn, "DELETE FROM llm_usage WHERE path = 'console-e2e'")


def _open(page, base: str, path: str, name: str):
    page.goto(base + path)
    page.wait_for_selector("main[data-ready]")
    assert page.get_attribute("main", "data-ready") == "true", page.inner_text("main")
    page.wait_for_timeout(300)  # charts draw on the next animation frame
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_the_console_in_a_browser(seattle, browser_page, request):
    from shared.engine.events.deadletter import DEAD_LETTER_TOPIC, publish_raw

    stack, page, base = seattle, browser_page, seattle.gateway_url
    dsn = stack.env["DATABASE_URL"]
    admin = {"X-Admin-Token": stack.env["ADMIN_TOKEN"]}
    _register_models(dsn)
    _evaluation_report(stack)
    user = f"console-e2e-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=base, timeout=120) as client:
        created = client.post("/v1/trips", json=TRIP, headers={"Authorization": f"Bearer {user}"})
        assert created.status_code == 201, created.text
        trip = created.json()
        slots = [s for d in trip["days"] for s in d["slots"]]
        located = [s for s in slots if s["venue"].get("lat") is not None and s["venue"].get("lon") is not None]
        assert located, "the trip has no located slot to map"
        # the traveller answers a few stops (the Signals page's per-minute chart counts them once stored)
        answers = [{"signal_type": kind, "trip_id": trip["trip_id"], "activity_node_id": s["venue"]["id"],
                    "context": {"time_to_action_ms": 3000 + 500 * i}}
                   for i, (kind, s) in enumerate(zip(("slot_accept", "slot_skip", "slot_accept", "thumbs_up"), slots))]
        sent = client.post("/v1/signals", json={"signals": answers}, headers={"Authorization": f"Bearer {user}"})
        assert sent.status_code == 202, sent.text
    stored = _apart(wait_rows, dsn, "SELECT count(*) AS n FROM behavioral_signals WHERE user_id = $1 "
                    "AND signal_type <> 'candidate_set_logged' HAVING count(*) >= $2", user, len(answers))
    assert stored, "the traveller's signals never reached Postgres"
    request.addfinalizer(lambda: _forget_llm_usage(dsn))
    cost_days = _past_llm_usage(dsn)

    # sign in: the console answers 401 with its sign-in page, the admin credential sets the session
    response = page.goto(base + "/console")
    assert response.status == 401
    page.screenshot(path=str(SHOTS / "sign-in.png"))
    page.fill("#token", "not-the-token")
    page.click("button[type=submit]")
    page.wait_for_selector("#err:not(:empty)")
    page.fill("#token", stack.env["ADMIN_TOKEN"])
    page.click("button[type=submit]")
    page.wait_for_selector("main[data-ready]")

    # Models: promote the shadow model with the button (a prompt asks for the reason: the confirmation)
    _open(page, base, "/console/models", "models")
    assert _registry_rows(dsn) == {"v1": "production", "v2": "shadow"}
    page.once("dialog", lambda d: d.accept("console e2e: v2 leads on ndcg@10"))
    page.click(f"table[data-model={MODEL}] tr[data-version=v2] button[data-action=promote]")
    page.wait_for_selector(f"table[data-model={MODEL}] tr[data-version=v2][data-status=production]")
    assert _registry_rows(dsn) == {"v1": "retired", "v2": "production"}
    listed = httpx.get(f"{base}/v1/admin/models", headers=admin, timeout=30).json()["models"]
    promoted = next(m for m in listed if m["name"] == MODEL and m["version"] == "v2")
    assert promoted["promotion"]["manual"] and "v2 leads" in promoted["promotion"]["reason"]
    page.screenshot(path=str(SHOTS / "models-after-promotion.png"), full_page=True)

    # Evaluation reports: the report's table lists both baselines with their intervals
    _open(page, base, "/console/reports", "reports")
    table = page.inner_text("table.report")
    assert "popularity" in table and "item_knn" in table and "[" in table

    # Catalogue: Seattle with its venue count; a seeding run started with the form, followed until it ends
    _open(page, base, "/console/catalogue", "catalogue")
    venues = _query(dsn, "SELECT count(*) AS n FROM activity_nodes WHERE city_id = 'seattle'")[0]["n"]
    assert str(venues) in page.inner_text("tr[data-city=seattle]")
    page.fill("#seed-city", "Boston")
    page.fill("#seed-limit", "12")
    page.click("#seed-form button[type=submit]")
    page.wait_for_selector("#seed-status .notice >> text=queued")
    run_id = page.inner_text("#seed-status .notice").split()[1]
    deadline = time.monotonic() + 240
    while True:
        _open(page, base, "/console/catalogue", "catalogue")
        state = page.get_attribute(f"tr[data-run='{run_id}']", "data-status")
        if state in ("succeeded", "failed") or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert state == "succeeded", page.inner_text(f"tr[data-run='{run_id}']")
    assert page.locator("tr[data-city=boston]").count() == 1

    # Trips: one marker per located slot, and the walking route drawn
    _open(page, base, f"/console/trips?trip={trip['trip_id']}", "trips")
    assert page.locator("path.slot-marker").count() == len(located)
    assert page.locator("path.walk-route").count() == len([d for d in trip["days"]
                                                           if any(s in located for s in d["slots"])])
    for s in slots:
        if s.get("narrative"):
            assert s["narrative"][:40] in page.inner_text("#trip")

    # Signals: the traveller's answers in the per-minute chart, the past days' LLM cost with its alert line
    _open(page, base, "/console/signals", "signals")
    assert page.locator("#signal-flow canvas").count() == 1 and "slot_accept" in page.evaluate(
        "() => JSON.stringify(Chart.getChart(document.querySelector('#signal-flow canvas')).data.datasets.map(d => d.label))")
    drawn = page.evaluate("() => { const c = Chart.getChart(document.querySelector('#llm-cost canvas'));"
                          " return {days: c.data.labels, cost: c.data.datasets[0].data, line: c.data.datasets[1].data}; }")
    assert drawn["cost"][-9:-1] == cost_days  # the 8 recorded days (today's cost is whatever other tests spent)
    assert drawn["line"][-9] is None  # the first day with usage has no history to compare with
    week = cost_days[-7:]
    assert drawn["line"][-1] == pytest.approx(2 * sum(week) / 7)  # today's line: twice the 7 days before

    # Signals: a good signal dead-lettered during an outage; Replay brings it home
    node = located[0]["venue"]["id"]
    good = {"event_id": f"console-e2e-{uuid.uuid4().hex}", "user_id": user, "signal_type": "thumbs_up",
            "activity_node_id": node, "trip_id": trip["trip_id"], "weight": 1.0, "context": {}}
    message_id = publish_raw(DEAD_LETTER_TOPIC, json.dumps(good).encode(),
                             {"event_id": good["event_id"], "CloudPubSubDeadLetterSourceSubscription": "signals-to-sink",
                              "CloudPubSubDeadLetterSourceDeliveryCount": "5"})
    row = f"#dead-letters tr[data-message='{message_id}']"
    deadline = time.monotonic() + 60
    while True:
        _open(page, base, "/console/signals", "signals")
        if page.locator(row).count() or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert page.locator(row).count() == 1, "the dead letter never showed on the Signals page"

    # Alerts: every registered rule with its state and inputs; the waiting dead letter makes its rule fire
    _open(page, base, "/console/alerts", "alerts")
    for rule in ("llm_cost_spike", "signals_dead_letters", "recs_p99_latency", "seeding_failed"):
        assert page.locator(f"#alerts tr[data-rule={rule}]").count() == 1, rule
    waiting = page.locator("#alerts tr[data-rule=signals_dead_letters]")
    assert waiting.locator(".badge").inner_text() == "firing" and "waiting:" in waiting.inner_text()
    assert "alert_line_usd: 0.26" in page.inner_text("#alerts tr[data-rule=llm_cost_spike]")  # 2 x 0.91 / 7

    page.goto(base + "/console/signals")
    page.wait_for_selector("main[data-ready=true]")
    page.once("dialog", lambda d: d.accept())
    page.click(f"{row} button[data-action=replay]")
    page.wait_for_selector(".notice >> text=replayed")
    stored = _apart(wait_rows, dsn, "SELECT signal_type FROM behavioral_signals WHERE event_id = $1", good["event_id"])
    assert stored and stored[0]["signal_type"] == "thumbs_up"
    page.screenshot(path=str(SHOTS / "signals-after-replay.png"), full_page=True)
    assert page.locator(row).count() == 0


def _console_operations() -> list[tuple[str, str]]:
    from infra.pulumi.openapi import backends_named, operations, render

    document = render({name: f"https://{name}.example" for name in backends_named()}, "proj")
    return [(method, path) for method, path, op in operations(document)
            if path.startswith(("/console", "/v1/admin/"))]


def test_without_the_admin_credential_every_console_route_and_api_is_401(stack):
    import re

    from functions.admin.main import router

    fill = {"{page}": "models", "{name}": "app.js", "{trip_id}": "trp_x", "{run_id}": "r1", "{version}": "v1"}
    ops = _console_operations()
    # every route the admin function serves to the gateway is in the document, and so checked here
    served = {(name.split(" ", 1)[0], re.sub(r"<(\w+)>", r"{\1}", name.split(" ", 1)[1]))
              for name in router._handlers if not name.split(" ", 1)[1].startswith("/tasks/")}
    assert served == set(ops), served ^ set(ops)
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        for method, path in ops:
            url = path
            for key, value in fill.items():
                url = url.replace(key, value)
            kwargs = {"json": {}} if method in ("POST", "PATCH", "PUT") else {}
            for headers in ({}, {"Accept": "text/html"}, {"Cookie": "concierge_console=99999999999.forged"}):
                r = client.request(method, url, headers=headers, **kwargs)
                assert r.status_code == 401, (method, url, headers, r.status_code, r.text[:200])
        # a browser gets the sign-in page, an API client the one error body naming the credential
        page = client.get("/console/signals", headers={"Accept": "text/html"})
        assert "Sign in" in page.text and page.headers["content-type"].startswith("text/html")
        assert client.get("/v1/admin/alerts").json()["error"]["field"] == "X-Admin-Token"

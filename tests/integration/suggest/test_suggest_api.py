"""Contextual suggestions through the gateway, on the test stack: a model trained, gated and promoted by
jobs/suggest_retrain (artifacts in the models bucket, rows in the registry), the suggest function, Pub/Sub and the
suggest_event_sink into Postgres.

- suggest -> impressions logged -> clicks and conversions -> each stored exactly once (duplicates sent twice, a
  client's confirmation of a logged impression, a duplicate inside a batch: still one row);
- a click whose impression was never stored is dead-lettered (reason impression_not_found) and counts nothing;
- A/B assignment is stable per user and splits users in the declared ratio;
- bad input is a 4xx naming the field;
- the model removed from the registry: the rule fallback serves, labelled (last: it retires the model).
"""
from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from shared.api.suggest_metrics import parse_exposition
from tests.integration.signals.stack_helpers import wait_for

MODEL = "suggest-logistic"


def _job(stack, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", *args], env=stack._child_env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _sql(dsn: str, sql: str, *args):
    import asyncpg

    async def go():
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def suggest(stack):
    _job(stack, "jobs.suggest_retrain.main", "--rankers", "logistic", "--resamples", "200")
    rows = _sql(stack.env["DATABASE_URL"], "SELECT version FROM model_registry WHERE model_name = $1 AND "
                                           "status = 'production'", MODEL)
    assert rows, "the retrain job did not promote suggest-logistic"
    client = httpx.Client(base_url=stack.gateway_url, timeout=60, headers={"Authorization": "Bearer suggest-tester"})
    yield stack, client, f"{MODEL}@{rows[0]['version']}"
    client.close()


def _context(**extra) -> dict:
    return {"device": "mobile", "current_action": "browse", "timestamp": datetime.now(UTC).isoformat(),
            "session_length": 120, **extra}


def _user(arm: str) -> str:
    from shared.domains.catalogues.suggest.ab import assign
    from shared.domains.catalogues.suggest.config import get_config

    exp = get_config().experiment_of("home")
    return next(u for u in (f"user-{uuid.uuid4().hex[:10]}" for _ in range(1000)) if assign(exp, u).name == arm)


def _suggest(client, user: str, **body) -> dict:
    from shared.domains.catalogues.suggest.schemas import SuggestView

    r = client.post("/v1/suggest", json={"user_id": user, "surface": "home", "limit": 3, "context": _context(),
                                         **body})
    assert r.status_code == 200, r.text
    SuggestView.model_validate(r.json())            # the documented response (openapi.yaml's SuggestView)
    return r.json()


def _refused(client, path: str, body: dict, field: str) -> None:
    r = client.post(path, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field, r.text


def _rows(stack, impression_ids: list[str]) -> list[dict]:
    return [dict(r) for r in _sql(stack.env["DATABASE_URL"],
                                  "SELECT event_id, event_type, impression_id, user_id, item_id, arm, served_by, "
                                  "value FROM suggest_events WHERE impression_id = ANY($1::text[]) ORDER BY id",
                                  impression_ids)]


def test_impressions_clicks_and_conversions_are_stored_exactly_once(suggest):
    stack, client, served_by = suggest
    user = _user("control")
    answer = _suggest(client, user)
    assert answer["served_by"] == served_by and answer["fallback_reason"] is None
    assert answer["arm"] == "control" and answer["experiment"] == "suggest-ranker-v1"
    assert answer["model_version"] == served_by.split("@")[1]
    items = answer["items"]
    assert len(items) == 3 and [i["position"] for i in items] == [0, 1, 2]
    ids = [i["impression_id"] for i in items]
    assert len(set(ids)) == 3
    # the logged impressions reach Postgres through Pub/Sub and the sink
    wait_for(lambda: len(_rows(stack, ids)) == 3 or None, 60, "three impressions stored")
    clicked, converted = ids[0], ids[1]
    accepted = ("suggest_accepted_lists_total", (("arm", "control"),))
    before = parse_exposition(client.get("/v1/suggest/metrics").text).get(accepted, 0.0)
    click = {"type": "click", "impression_id": clicked}
    for _ in range(2):                                                   # a retry / double tap
        assert client.post("/v1/events", json=click).status_code == 202
    r = client.post("/v1/events", json={"events": [click, {"type": "impression", "impression_id": clicked},
                                                   {"type": "click", "impression_id": converted},
                                                   {"type": "conversion", "impression_id": converted, "value": 25.0},
                                                   {"type": "conversion", "impression_id": converted, "value": 25.0}]})
    assert r.status_code == 202, r.text
    from shared.domains.catalogues.suggest.schemas import EventsAccepted

    EventsAccepted.model_validate(r.json())
    assert r.json()["accepted"] == 4                                     # the duplicate conversion counted once
    expected = {("impression", ids[0]), ("impression", ids[1]), ("impression", ids[2]), ("click", clicked),
                ("click", converted), ("conversion", converted)}

    def stored():
        rows = _rows(stack, ids)
        return rows if {(r["event_type"], r["impression_id"]) for r in rows} == expected else None

    rows = wait_for(stored, 60, "clicks and the conversion stored")
    time.sleep(2)                                                        # redeliveries have had their chance
    rows = _rows(stack, ids)
    assert len(rows) == 6                                                # exactly once each
    by = {(r["event_type"], r["impression_id"]): r for r in rows}
    assert by[("click", clicked)]["user_id"] == user and by[("click", clicked)]["item_id"] == items[0]["item_id"]
    assert by[("click", clicked)]["arm"] == "control" and by[("click", clicked)]["served_by"] == served_by
    assert by[("conversion", converted)]["value"] == 25.0
    metrics = client.get("/v1/suggest/metrics")
    assert metrics.status_code == 200 and 'suggest_events_total{arm="control",type="click"}' in metrics.text
    # two items of one list clicked (one of them three times): one accepted list
    assert parse_exposition(metrics.text)[accepted] - before == 1.0

    # the evaluation report's A/B part reads the same rows
    from shared.domains.catalogues.suggest.report import experiment_report

    async def report():
        import asyncpg

        conn = await asyncpg.connect(stack.env["DATABASE_URL"])
        try:
            return await experiment_report(conn, "suggest-ranker-v1")
        finally:
            await conn.close()

    control = asyncio.run(report())["arms"]["control"]
    assert control["ctr"]["successes"] >= 2 and control["ctr"]["trials"] >= 3
    assert control["acceptance"]["successes"] >= 1 and control["conversion"]["successes"] >= 1
    assert control["ctr"]["low"] <= control["ctr"]["rate"] <= control["ctr"]["high"]


def test_a_click_whose_impression_was_never_stored_is_dead_lettered(suggest):
    from google.cloud import pubsub_v1

    from jobs.replay_dead_letters.main import describe, pull_all
    from shared.adapters.pubsub import topic_path
    from shared.domains.catalogues.suggest.events import DEAD_LETTER_TOPIC
    from shared.domains.catalogues.suggest.impressions import new_impression_id

    stack, client, _ = suggest
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(stack.project, f"suggest-dlq-{uuid.uuid4().hex[:8]}")
    subscriber.create_subscription(request={"name": path, "topic": topic_path(DEAD_LETTER_TOPIC)})
    try:
        # signed like a real one (the stack uses the development key), but never served: the 400 cannot know, the
        # sink can
        orphan = new_impression_id("control")
        assert client.post("/v1/events", json={"type": "click", "impression_id": orphan}).status_code == 202
        seen: list[dict] = []

        def arrived():
            got = pull_all(subscriber, path, 100, patient=False)
            if got:
                subscriber.acknowledge(request={"subscription": path, "ack_ids": [m.ack_id for m in got]})
            seen.extend(describe(m) for m in got)
            return [m for m in seen if m["event_id"] == f"click:{orphan}"] or None

        dead = wait_for(arrived, 120, "the orphan click on suggest-events-dead-letter", 1.0)
        assert dead[0]["reason"] == "impression_not_found"
        assert dead[0]["source_subscription"] == "suggest-events-to-sink"
        assert _rows(stack, [orphan]) == []
    finally:
        subscriber.delete_subscription(request={"subscription": path})


def test_ab_assignment_is_stable_and_splits_in_the_declared_ratio(suggest):
    from shared.domains.catalogues.suggest.config import get_config

    _, client, _ = suggest
    exp = get_config().experiment_of("home")
    declared = {a.name: a.weight / sum(x.weight for x in exp.arms) for a in exp.arms}
    users = [f"ab-user-{i}" for i in range(240)]
    first = {u: _suggest(client, u, limit=1)["arm"] for u in users}
    again = {u: _suggest(client, u, limit=1, surface="cart")["arm"] for u in users[:60]}   # same experiment
    assert all(first[u] == arm for u, arm in again.items())
    for arm, share in declared.items():
        observed = sum(1 for a in first.values() if a == arm) / len(users)
        # binomial sd at n=240, p=0.5 is 0.032: 0.1 is 3 sd
        assert abs(observed - share) < 0.1, (arm, observed, share)


def test_bad_input_is_a_4xx_naming_the_field(suggest):
    _, client, _ = suggest
    body = {"user_id": "u-bad", "surface": "home", "limit": 3, "context": _context()}
    _refused(client, "/v1/suggest", {**body, "surface": "nowhere"}, "surface")
    _refused(client, "/v1/suggest", {**body, "limit": 0}, "limit")
    _refused(client, "/v1/suggest", {**body, "limit": 1000}, "limit")
    _refused(client, "/v1/suggest", {**body, "limit": 11}, "limit")                 # home shows at most 10
    _refused(client, "/v1/suggest", {**body, "context": _context(device="toaster")}, "context.device")
    _refused(client, "/v1/suggest", {**body, "context": {**_context(), "timestamp": "yesterday"}},
             "context.timestamp")
    _refused(client, "/v1/suggest", {**body, "context": _context(session_length=-1)}, "context.session_length")
    _refused(client, "/v1/suggest", {**body, "context": _context(user_item_affinity=[0.1, 0.2])},
             "context.user_item_affinity")
    _refused(client, "/v1/suggest", {**body, "context": _context(colour="red")}, "context.colour")
    _refused(client, "/v1/suggest", {k: v for k, v in body.items() if k != "context"}, "context")
    _refused(client, "/v1/suggest", {**body, "context": "mobile"}, "context")
    _refused(client, "/v1/events", {"type": "click", "impression_id": "not-one-of-ours"}, "events[0].impression_id")
    good = _suggest(client, "u-bad")["items"][0]["impression_id"]
    forged = good[:-1] + ("0" if good[-1] != "0" else "1")
    _refused(client, "/v1/events", {"events": [{"type": "click", "impression_id": good},
                                               {"type": "click", "impression_id": forged}]},
             "events[1].impression_id")
    _refused(client, "/v1/events", {"type": "like", "impression_id": good}, "events[0].type")
    r = client.post("/v1/suggest", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["field"]


def test_the_weekly_retrain_exports_gates_and_reports(suggest):
    """The job as the scheduler runs it (no flags): both rankers, each gated; the one production row per name."""
    import json

    stack, client, served_by = suggest
    _suggest(client, _user("treatment"))          # some events of both arms exist by now (earlier tests)
    report = json.loads(_job(stack, "jobs.suggest_retrain.main", "--resamples", "200"))
    assert report["export"]["events"] >= 3 and report["export"]["path"].startswith("gs://")
    assert report["export"]["by_type"]["impression"] >= 3
    for name in ("suggest-logistic", "suggest-lightgbm"):
        model = report["models"][name]
        assert model["gate"]["reason"].startswith(("passed", "blocked"))
        assert model["status"] == ("production" if model["gate"]["passed"] else "shadow")
        assert set(model["off_policy"]["estimates"]) == {"dm", "ips", "snips", "dr"}
        assert model["auc"]["low"] <= model["auc"]["mean"] <= model["auc"]["high"]
        rows = _sql(stack.env["DATABASE_URL"], "SELECT status FROM model_registry WHERE model_name = $1", name)
        assert sum(r["status"] == "production" for r in rows) <= 1
    # the logistic model is judged against the production one it would replace, not the rule
    assert report["models"]["suggest-logistic"]["reference"]["model"] == served_by
    (ab,) = report["ab_tests"]
    assert ab["arms"]["control"]["ctr"]["trials"] >= 3 and ab["stopping_rule"]["decision"] in ("stop: the arms differ",
                                                                                                "continue")
    # whatever the gate decided, the control arm is served by its production model
    production = _sql(stack.env["DATABASE_URL"], "SELECT version FROM model_registry WHERE model_name = $1 AND "
                                                 "status = 'production'", MODEL)[0]["version"]
    time.sleep(1.5)
    assert _suggest(client, _user("control"))["served_by"] == f"{MODEL}@{production}"


def test_the_fallback_serves_labelled_when_the_model_is_removed(suggest):
    stack, client, _ = suggest
    user = _user("control")
    served_by = _suggest(client, user)["served_by"]
    assert served_by.startswith(f"{MODEL}@")
    name, version = served_by.split("@")
    _sql(stack.env["DATABASE_URL"], "UPDATE model_registry SET status = 'retired' WHERE model_name = $1 AND "
                                    "version = $2", name, version)
    time.sleep(1.5)                                  # the stack's functions ask the registry every second
    answer = _suggest(client, user)
    assert answer["served_by"] == "rule" and answer["model_version"] == "rule-ctr-x-position"
    assert answer["fallback_reason"] == f"no production {MODEL} in the registry"
    assert len(answer["items"]) == 3 and all(i["impression_id"] for i in answer["items"])
    # the treatment arm: served by suggest-lightgbm if the weekly run's gate promoted it, else the labelled fallback
    other = _suggest(client, _user("treatment"))
    assert other["served_by"].startswith("suggest-lightgbm@") or (
        other["served_by"] == "rule" and other["fallback_reason"] == "no production suggest-lightgbm in the registry")
    metrics = client.get("/v1/suggest/metrics").text
    assert 'suggest_fallbacks_total{reason="no_model"}' in metrics

"""Recommendations through the gateway, on MovieLens 100k imported into the test stack and models trained by
jobs/train on what was stored and promoted by jobs/evaluate's gate (the real jobs, the trainer subprocess, the
registry, the models bucket):

- a user with history is served by the two-tower model; rolled back, ALS serves, labelled; unknown → popularity;
- the second identical call is a cache hit, an interaction through Pub/Sub invalidates it;
- MMR changes the list; batch equals single calls; similar items/users; cold start;
- bad input is a 4xx naming the field; /metrics shows the counters moving.
"""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid

import httpx
import pytest

CATALOGUE = "movielens-100k"
TWO_TOWER_PARAMS = {"epochs": 3}  # a quick model: this test checks serving, bench/recs_quality.py checks quality


def _job(stack, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", *args], env=stack._child_env(), capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


async def _sql(dsn: str, sql: str, *args):
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


SPLIT = ("--split", "random:0.8", "--seed", "42")


def _gate(stack, name: str) -> str:
    """The promotion gate, twice (candidate -> shadow -> production), on the split's held-out interactions; returns
    the production model's served_by."""
    for _ in range(2):
        _job(stack, "jobs.evaluate.main", "--dataset", f"catalogue:{CATALOGUE}", *SPLIT, "--model", name,
             "--baseline", "popularity", "--gate-metric", "ndcg@10", "--k", "10", "--n-resamples", "200", "--promote")
    rows = asyncio.run(_sql(stack.env["DATABASE_URL"], "SELECT version FROM model_registry WHERE model_name = $1 "
                                                       "AND status = 'production'", name))
    assert rows, f"{name} did not pass the gate"
    return f"{name}@{rows[0]['version']}"


@pytest.fixture(scope="module")
def recs(stack):
    """MovieLens 100k imported; ALS and two-tower trained by jobs/train on 80% of what was stored and promoted by
    jobs/evaluate's gate on the other 20%."""
    _job(stack, "jobs.import_catalogue.main", "--catalogue", CATALOGUE)
    _job(stack, "jobs.train.main", "--ranker", "als", "--catalogue", CATALOGUE, *SPLIT)
    _job(stack, "jobs.train.main", "--ranker", "two_tower", "--catalogue", CATALOGUE, *SPLIT,
         "--params", json.dumps(TWO_TOWER_PARAMS))
    served = {kind: _gate(stack, f"recs-{CATALOGUE}-{kind}") for kind in ("als", "two_tower")}
    client = httpx.Client(base_url=stack.gateway_url, timeout=60,
                          headers={"Authorization": "Bearer recs-tester"})
    yield stack, client, served
    client.close()


def _post(client, path: str, body: dict, status: int = 200) -> dict:
    r = client.post(f"/v1/catalogues/{CATALOGUE}/{path}", json=body)
    assert r.status_code == status, r.text
    return r.json()


def _refused(client, path: str, body: dict, field: str, status: int = 400, catalogue: str = CATALOGUE) -> None:
    r = client.post(f"/v1/catalogues/{catalogue}/{path}", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field, r.text


def test_the_chain_serves_two_tower_then_als_then_popularity_each_labelled(recs):
    stack, client, served = recs
    first = _post(client, "recommendations", {"user_id": "1", "k": 10})
    assert first["served_by"] == "two_tower" and first["model_version"] == served["two_tower"]
    assert first["fallback_reason"] is None and len(first["items"]) == 10
    scores = [i["score"] for i in first["items"]]
    assert scores == sorted(scores, reverse=True)
    seen = {r["item_id"] for r in asyncio.run(_sql(stack.env["DATABASE_URL"], "SELECT item_id FROM "
                                                   "catalogue_interactions WHERE catalogue_id = $1 AND user_id = '1'",
                                                   CATALOGUE))}
    assert not seen & {i["item_id"] for i in first["items"]}  # exclude_seen by default

    stranger = _post(client, "recommendations", {"user_id": f"new-{uuid.uuid4().hex[:6]}", "k": 5})
    assert stranger["served_by"] == "popularity" and "no history" in stranger["fallback_reason"]



def test_a_repeat_is_a_cache_hit_and_a_new_interaction_invalidates_it(recs):
    stack, client, _ = recs
    body = {"user_id": "7", "k": 10}
    a = _post(client, "recommendations", body)
    b = _post(client, "recommendations", body)
    assert b["cache"]["hit"] and b["items"] == a["items"] and b["served_by"] == a["served_by"]
    watched = a["items"][0]["item_id"]
    _post(client, "interactions", {"events": [{"user_id": "7", "item_id": watched, "event_type": "watch"}]}, 202)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        c = _post(client, "recommendations", body)
        if not c["cache"]["hit"]:
            break
        time.sleep(0.5)
    assert not c["cache"]["hit"], "the stored interaction did not invalidate the cached list"
    assert watched not in {i["item_id"] for i in c["items"]}  # now seen: excluded


def test_diversity_changes_the_list_and_batch_equals_single_calls(recs):
    _, client, _ = recs
    plain = _post(client, "recommendations", {"user_id": "13", "k": 10})
    diverse = _post(client, "recommendations", {"user_id": "13", "k": 10, "diversity": 0.6})
    assert [i["item_id"] for i in plain["items"]] != [i["item_id"] for i in diverse["items"]]
    assert diverse["items"][0]["item_id"] == plain["items"][0]["item_id"]  # MMR keeps the best item first
    users = ["2", "3", "4", f"nobody-{uuid.uuid4().hex[:4]}"]
    batch = _post(client, "recommendations:batch", {"user_ids": users, "k": 5, "filters": {"categories": ["Comedy"]}})
    assert [r["user_id"] for r in batch["results"]] == users
    for user, together in zip(users, batch["results"]):
        alone = _post(client, "recommendations", {"user_id": user, "k": 5, "filters": {"categories": ["Comedy"]}})
        assert [i["item_id"] for i in alone["items"]] == [i["item_id"] for i in together["items"]]
        assert alone["served_by"] == together["served_by"]
        assert all("Comedy" in i["categories"] for i in alone["items"])


def test_similar_items_users_and_cold_start(recs):
    _, client, served = recs
    similar = _post(client, "similar-items", {"item_id": "50", "k": 5})  # Star Wars (1977)
    assert similar["served_by"] == "two_tower" and len(similar["items"]) == 5
    assert "50" not in {i["item_id"] for i in similar["items"]}
    peers = _post(client, "similar-users", {"user_id": "1", "k": 5})
    assert peers["served_by"] == "als" and len(peers["users"]) == 5 and "1" not in {u["user_id"] for u in peers["users"]}
    liked = _post(client, "cold-start", {"liked_item_ids": ["50", "172", "181"], "k": 5})
    assert liked["served_by"] == "two_tower" and not {"50", "172", "181"} & {i["item_id"] for i in liked["items"]}
    words = _post(client, "cold-start", {"tastes": "animated films for children", "k": 10})
    assert words["served_by"] == "text"
    assert sum("Animation" in i["categories"] or "Children's" in i["categories"] for i in words["items"]) >= 3


def test_bad_input_is_a_4xx_naming_the_field(recs):
    _, client, _ = recs
    _refused(client, "recommendations", {"user_id": "1"}, "catalogue", 404, catalogue="no-such-catalogue")
    _refused(client, "recommendations", {"user_id": "1", "k": 0}, "k")
    _refused(client, "recommendations", {"user_id": "1", "k": 10_000}, "k")
    _refused(client, "recommendations", {"user_id": "1", "k": "10"}, "k")
    _refused(client, "recommendations", {"user_id": "1", "filters": {"categories": "Comedy"}}, "filters.categories")
    _refused(client, "recommendations", {"user_id": "1", "filters": {"genre": ["Comedy"]}}, "filters.genre")
    _refused(client, "recommendations", {"user_id": "1", "filters": {"categories": ["Polka"]}}, "filters.categories")
    _refused(client, "recommendations", {"user_id": "1", "diversity": 2}, "diversity")
    _refused(client, "recommendations:batch", {"user_ids": [str(i) for i in range(101)]}, "user_ids")
    _refused(client, "similar-users", {"user_id": "never-seen"}, "user_id", 404)
    _refused(client, "similar-items", {"item_id": "no-such-item"}, "item_id", 404)
    _refused(client, "cold-start", {"liked_item_ids": ["no-such-item"]}, "liked_item_ids")
    _refused(client, "interactions", {"events": [{"user_id": "1", "item_id": "no-such-item"}]}, "events.0.item_id")


def test_metrics_show_the_counters_moving(recs):
    _, client, _ = recs

    def lists_served() -> float:
        text = client.get(f"/v1/catalogues/{CATALOGUE}/metrics").text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("recs_lists_served_total{") and f'catalogue="{CATALOGUE}"' in line)

    before = lists_served()
    for user in ("21", "22", "23"):
        _post(client, "recommendations", {"user_id": user, "k": 3})
    assert lists_served() == before + 3
    text = client.get(f"/v1/catalogues/{CATALOGUE}/metrics").text
    assert "recs_request_seconds_bucket" in text and "recs_cache_lookups_total" in text


def test_killing_the_two_tower_model_hands_over_to_als_labelled(recs):
    """Last in the module: a retired model stays retired."""
    stack, client, served = recs
    from shared.engine.registry.store import transition

    name, version = served["two_tower"].split("@")

    async def kill():
        import asyncpg

        conn = await asyncpg.connect(stack.env["DATABASE_URL"])
        try:
            await transition(conn, name, version, "retired")
        finally:
            await conn.close()

    asyncio.run(kill())
    time.sleep(1.5)  # the function asks the registry every second in the test stack (RECS_MODEL_REFRESH_S)
    after = _post(client, "recommendations", {"user_id": "1", "k": 10})
    assert after["served_by"] == "als" and after["model_version"] == served["als"]
    assert after["fallback_reason"].startswith("two_tower: no production")
    assert not after["cache"]["hit"]  # the model versions are part of the key: nothing stale is served
    similar = _post(client, "similar-items", {"item_id": "50", "k": 5})
    assert similar["served_by"] == "text" and similar["fallback_reason"].startswith("two_tower:")

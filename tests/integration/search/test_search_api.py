"""Semantic search through the gateway, on indexes built by the real job (jobs/build_search_index: embedded with
the base ONNX encoder, stored in the GCS stand-in, registered in Postgres) and served by the search function:

- results name served_by, the model, index and revision; hybrid mode; a city's venues; a labelled BM25 fallback;
- the second identical query is a cache hit, the first is not; the counters stay exact under concurrent load;
- promoting a new index enqueues the warm-up (Cloud Tasks emulator -> search_warmup), which warms the recorded
  queries: the first user of the new version hits the cache;
- a canary: a gateway honouring the declared 10/90 split sends ~10% to the candidate (serving the shadow index),
  and the one-command rollback sends everything to stable;
- bad input is a 4xx naming the field.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.synthetic_city import store_city
from tests.unit.trips.trips_synthetic import make_venues

CITY = "search-testville"
UNINDEXED_CITY = "search-unindexed"
MODEL_VERSION = "all-MiniLM-L6-v2@minilm-l6-v2-onnx-1"
DOCS = 150   # a slice of SciFact keeps the builds quick; bench/search_latency.py measures the full 5,183


def _job(stack, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "jobs.build_search_index.main", *args], env=stack._child_env(),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


async def _sql(dsn: str, sql: str, *args):
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def search(stack):
    venues = list(make_venues(48, seed=5).values())
    asyncio.run(store_city(stack.env["DATABASE_URL"], CITY, "Search Testville", venues, drop_trips=True))
    asyncio.run(store_city(stack.env["DATABASE_URL"], UNINDEXED_CITY, "Unindexed", venues[:8], drop_trips=True))
    built = {"scifact": _job(stack, "--corpus", "scifact", "--max-docs", str(DOCS), "--promote", "production",
                             "--no-warmup"),
             "venues": _job(stack, "--corpus", f"venues:{CITY}", "--promote", "production", "--no-warmup")}
    client = httpx.Client(base_url=stack.gateway_url, timeout=60, headers={"Authorization": "Bearer search-tester"})
    yield stack, client, built
    client.close()


def _get(client, path: str, params: dict, status: int = 200) -> dict:
    r = client.get(path, params=params)
    assert r.status_code == status, r.text
    return r.json()


def _until_version(client, params: dict, version: str, path: str = "/v1/search", timeout: float = 30) -> dict:
    """The first answer naming `version` (instances refresh from the registry every second in the test stack)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = _get(client, path, params)
        if body["index_version"] == version:
            return body
        time.sleep(0.2)
    raise AssertionError(f"index {version} was never served; last answer {body['index_version']}")


def test_search_names_served_by_and_versions(search):
    _, client, built = search
    version = built["scifact"]["version"]
    record = built["scifact"]["record"]
    assert record["documents"] == DOCS and record["hnsw"]["m"] > 0 and 0.9 <= record["recall@10_vs_exact"] <= 1.0
    body = _until_version(client, {"q": "vitamin D deficiency and bone density", "k": 5}, version)
    assert body["served_by"] == "dense" and body["fallback_reason"] is None and body["score_kind"] == "cosine"
    assert body["model_version"] == MODEL_VERSION and body["revision"] in ("search-stable", "search-candidate")
    assert len(body["results"]) == 5 and [h["rank"] for h in body["results"]] == [1, 2, 3, 4, 5]
    scores = [h["score"] for h in body["results"]]
    assert scores == sorted(scores, reverse=True) and all(-1.0 <= s <= 1.0 for s in scores)
    hybrid = _get(client, "/v1/search", {"q": "vitamin D deficiency and bone density", "k": 5, "mode": "hybrid"})
    assert hybrid["served_by"] == "hybrid" and hybrid["score_kind"] == "rrf" and hybrid["index_version"] == version
    assert len(hybrid["results"]) == 5


def test_second_identical_query_is_a_cache_hit(search):
    _, client, built = search
    q = f"microRNA regulation of apoptosis {uuid.uuid4().hex[:8]}"
    first = _until_version(client, {"q": q, "k": 7}, built["scifact"]["version"])
    assert first["cache"]["hit"] is False
    second = _get(client, "/v1/search", {"q": "  " + q.upper() + " ", "k": 7})  # the same normalised query
    assert second["cache"]["hit"] is True
    assert second["results"] == first["results"] and second["index_version"] == first["index_version"]
    other_k = _get(client, "/v1/search", {"q": q, "k": 6})   # k is part of the key
    assert other_k["cache"]["hit"] is False


def _stats(client) -> dict:
    body = _get(client, "/v1/search/cache-stats", {})
    assert body["consistent"] is True and body["inconsistent"] == []
    return body["corpora"].get("scifact", {"lookups": 0, "hits": 0, "misses": 0, "sets": 0, "warm_sets": 0})


def test_cache_stats_stay_exact_under_concurrent_load(search):
    stack, _, built = search
    tag = uuid.uuid4().hex[:8]
    queries = [f"gene expression in tumour cells {tag} {i}" for i in range(8)] * 12   # 8 keys, 12 times each
    with httpx.Client(base_url=stack.gateway_url, timeout=60, headers={"Authorization": "Bearer s"}) as client:
        _until_version(client, {"q": "warm the instance", "k": 3}, built["scifact"]["version"])
        before = _stats(client)

    async def load() -> list[dict]:
        limits = httpx.Limits(max_connections=24)
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60, limits=limits,
                                     headers={"Authorization": "Bearer s"}) as client:
            async def one(q: str) -> dict:
                r = await client.get("/v1/search", params={"q": q, "k": 4})
                assert r.status_code == 200, r.text
                return r.json()

            return await asyncio.gather(*(one(q) for q in queries))

    answers = asyncio.run(load())
    with httpx.Client(base_url=stack.gateway_url, timeout=60, headers={"Authorization": "Bearer s"}) as client:
        after = _stats(client)
    delta = {k: after[k] - before[k] for k in after}
    hits = sum(a["cache"]["hit"] for a in answers)
    # every request counted exactly once, as what it was answered as: nothing twice, nothing lost
    assert delta["lookups"] == len(queries)
    assert delta["hits"] == hits and delta["misses"] == len(queries) - hits
    assert delta["misses"] >= 8            # each key missed at least once (concurrent first requests may all miss)
    fallbacks = {a["fallback_reason"] for a in answers if a["fallback_reason"]}
    assert delta["sets"] == delta["misses"], fallbacks  # every miss stored its answer (no fallback served here)
    by_query: dict[str, list] = {}
    for q, a in zip(queries, answers):
        by_query.setdefault(q, []).append([h["id"] for h in a["results"]])
    assert all(len({json.dumps(r) for r in rs}) == 1 for rs in by_query.values())  # a hit equals the fresh answer


def test_venue_search_over_a_seeded_city(search):
    _, client, built = search
    version = built["venues"]["version"]
    body = _until_version(client, {"q": "quiet ramen noodle soup", "k": 5}, version,
                          path=f"/v1/cities/{CITY}/venues:search")
    assert body["corpus"] == f"venues:{CITY}" and body["served_by"] == "dense"
    assert all(h["id"].startswith(f"{CITY}:") for h in body["results"]) and len(body["results"]) == 5
    assert body["results"][0]["title"].startswith("Ramen"), body["results"]
    same = _get(client, "/v1/search", {"q": "quiet ramen noodle soup", "k": 5, "corpus": f"venues:{CITY}"})
    assert same["cache"]["hit"] is True and same["results"] == body["results"]  # one path, one cache


def test_a_city_without_an_index_is_served_by_labelled_bm25(search):
    _, client, _ = search
    body = _get(client, f"/v1/cities/{UNINDEXED_CITY}/venues:search", {"q": "coffee cozy", "k": 3})
    assert body["served_by"] == "bm25-fallback" and "no index" in body["fallback_reason"]
    assert body["index_version"] is None and body["model_version"] is None and body["score_kind"] == "bm25"
    assert body["results"] and all(h["id"].startswith(f"{UNINDEXED_CITY}:") for h in body["results"])
    again = _get(client, f"/v1/cities/{UNINDEXED_CITY}/venues:search", {"q": "coffee cozy", "k": 3})
    assert again["cache"]["hit"] is False   # a fallback answer is not cached


@pytest.mark.parametrize("params, field, status", [
    ({"q": ""}, "q", 400),
    ({"q": "   "}, "q", 400),
    ({}, "q", 400),
    ({"q": "x", "k": 0}, "k", 400),
    ({"q": "x", "k": 10000}, "k", 400),
    ({"q": "x", "k": "ten"}, "k", 400),
    ({"q": "x", "corpus": "wikipedia"}, "corpus", 400),
    ({"q": "x", "corpus": "venues:no-such-city"}, "corpus", 404),
    ({"q": "x", "mode": "sparse"}, "mode", 400),
    ({"q": "x", "colour": "red"}, "colour", 400),
])
def test_bad_input_is_a_4xx_naming_the_field(search, params, field, status):
    _, client, _ = search
    body = _get(client, "/v1/search", params, status)
    assert body["error"]["field"] == field, body


def test_venue_search_bad_input(search):
    _, client, _ = search
    assert _get(client, "/v1/cities/no-such-city/venues:search", {"q": "x"}, 404)["error"]["field"] == "city"
    assert _get(client, f"/v1/cities/{CITY}/venues:search", {"q": "x", "k": 0}, 400)["error"]["field"] == "k"
    assert _get(client, "/v1/cities/Bad_City/venues:search", {"q": "x"}, 400)["error"]["field"] == "city"


def test_promotion_warms_the_recorded_queries(search):
    stack, client, built = search
    import redis

    tag = uuid.uuid4().hex[:8]
    asked = {f"protein folding {tag}": 3, f"insulin resistance {tag}": 2, f"statins and memory {tag}": 1}
    for q, n in asked.items():
        for _ in range(n):
            _get(client, "/v1/search", {"q": q, "k": 5})
    from shared.engine.search.cache import recent_freq_keys

    r = redis.Redis.from_url(stack.env["REDIS_URL"])
    recorded = len(r.zunion(recent_freq_keys("scifact")))
    top = r.zunion(recent_freq_keys("scifact"), withscores=True)
    assert {m.decode().split("\t", 2)[2]: int(s) for m, s in top if tag in m.decode()} == asked

    new = _job(stack, "--corpus", "scifact", "--max-docs", str(DOCS + 1), "--promote", "production")
    assert new["status"] == "production" and new["warmup_task"]
    deadline, report = time.monotonic() + 120, None
    while time.monotonic() < deadline:
        report = _get(client, "/v1/search/cache-stats", {})["warmups"].get("scifact")
        if report and report["index_version"] == new["version"]:
            break
        time.sleep(0.5)
    assert report and report["index_version"] == new["version"], report
    assert report["source"] == "frequencies" and report["failed"] == 0
    assert report["candidates"] == min(recorded, 200)
    assert report["warmed"] == report["candidates"] - report["already_cached"] - report["skipped"]
    assert report["warmed"] > 0
    first = _until_version(client, {"q": f"protein folding {tag}", "k": 5}, new["version"])
    assert first["cache"]["hit"] is True   # the first user of the new index finds it warm
    built["scifact"] = new


def test_canary_split_honours_declared_weights_and_rollback(search, tmp_path):
    stack, client, built = search
    from emulators.stack import free_port
    from infra.pulumi.declaration import DECLARATION_FILE, read_traffic
    from infra.pulumi.openapi import backends_named

    shadow = _job(stack, "--corpus", "scifact", "--max-docs", str(DOCS + 2), "--promote", "shadow")
    production = built["scifact"]["version"]
    declaration = tmp_path / "resources.yaml"
    shutil.copyfile(DECLARATION_FILE, declaration)
    assert read_traffic(declaration)["search"] == 10
    urls = {name: f"missing://{name}" for name in backends_named()}
    urls.update({name: stack.function_url(name) for name in stack.decl.functions})
    urls["search@candidate"] = stack.candidate_url("search")
    port = free_port()
    gateway = subprocess.Popen([sys.executable, "-m", "emulators.gateway", "--port", str(port), "--urls",
                                json.dumps(urls), "--declaration", str(declaration)], env=stack._child_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from emulators.procs import wait_port

        wait_port(port, 20, None, "canary gateway")
        canary = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                              headers={"Authorization": "Bearer canary"})
        params = {"q": "canary split probe", "k": 3}
        _until_version(canary, params, shadow["version"])   # the candidate has loaded the shadow index

        def served(n: int) -> list[dict]:
            return [_get(canary, "/v1/search", params) for _ in range(n)]

        n = 600
        answers = served(n)
        candidate = [a for a in answers if a["revision"] == "search-candidate"]
        share = len(candidate) / n
        assert abs(share - 0.10) <= 0.04, share       # ±0.04 is ~3.3 standard deviations of a 10% binomial
        assert all(a["index_version"] == shadow["version"] for a in candidate)
        assert all(a["index_version"] == production for a in answers if a["revision"] == "search-stable")

        done = subprocess.run([sys.executable, "-m", "infra.pulumi.traffic", "--declaration", str(declaration),
                               "rollback", "search"], capture_output=True, text=True, env=stack._child_env())
        assert done.returncode == 0, done.stderr
        assert read_traffic(declaration)["search"] == 0
        after = served(300)
        assert {a["revision"] for a in after} == {"search-stable"}
        assert {a["index_version"] for a in after} == {production}
        canary.close()
    finally:
        gateway.terminate()
        gateway.wait(10)
        asyncio.run(_sql(stack.env["DATABASE_URL"], "UPDATE model_registry SET status = 'retired' "
                                                    "WHERE model_name = 'search-index-scifact' AND status = 'shadow'"))

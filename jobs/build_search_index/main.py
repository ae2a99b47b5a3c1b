"""Cloud Run Job: build a corpus' HNSW search index, measure it, store it, register it, optionally promote it.

    python -m jobs.build_search_index.main --corpus scifact [--encoder DIR --encoder-version V]
        [--m 32 --ef-construction 200 --ef-search 128] [--max-docs N] [--promote shadow|production]
    python -m jobs.build_search_index.main --corpus venues:seattle --promote production
    python -m jobs.build_search_index.main --corpus scifact --promote-version V --promote production

Steps: read the corpus (SciFact from the datasets mount; a city's venues from activity_nodes), embed every
document with the document tower of the encoder (the base all-MiniLM-L6-v2 ONNX of the image by default; a
fine-tuned MoCo run folder or ONNX export with --encoder), build faiss IndexHNSWFlat (shared.engine.search.index)
with the declared parameters (hpo.yaml's defaults unless given), measure its recall@10 against exact search on
probe queries (SciFact's test queries, or the documents' own titles for a city), write the bundle
(shared.engine.search.bundle) to the models bucket and register it as a candidate of `search-index-<slug>`
with the build record as its metrics.

--promote shadow puts it in canary (the candidate revision serves it); --promote production makes it what
everyone gets and enqueues the warm-up task (queue search-warmup), so the first users hit a warm cache.
--max-docs indexes only the first N documents (tests; the record says so). The job prints one JSON line.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path


RECALL_PROBES = 300
WARMUP_QUEUE = "search-warmup"
WARMUP_TARGET = "search_warmup"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from shared.engine.search.config import declared_defaults

    d = declared_defaults()
    p = argparse.ArgumentParser(prog="python -m jobs.build_search_index.main", description=__doc__.splitlines()[0])
    p.add_argument("--corpus", required=True, help="scifact or venues:<city id>")
    p.add_argument("--encoder", type=Path, default=None,
                   help="fine-tuned encoder: a MoCo run folder (onnx/query, onnx/doc) or an ONNX export folder; "
                        "default: the base all-MiniLM-L6-v2 export")
    p.add_argument("--encoder-version", default=None, help="the encoder's registry version, to name it by")
    p.add_argument("--m", type=int, default=d["hnsw_m"])
    p.add_argument("--ef-construction", type=int, default=d["hnsw_ef_construction"])
    p.add_argument("--ef-search", type=int, default=d["hnsw_ef_search"])
    p.add_argument("--max-docs", type=int, default=None, help="index only the first N documents (tests)")
    p.add_argument("--promote", choices=("shadow", "production"), default=None)
    p.add_argument("--promote-version", default=None, help="promote this registered version instead of building")
    p.add_argument("--warmup-limit", type=int, default=200)
    p.add_argument("--no-warmup", action="store_true", help="promote without enqueueing the warm-up")
    return p.parse_args(argv)


async def _documents(corpus: str, max_docs: int | None):
    from shared.domains.catalogues import search_corpora as corpora

    city = corpora.city_of(corpus)
    if city is None:
        return corpora.scifact_documents(max_docs)
    from shared.adapters.postgres import create_pool

    pool = await create_pool()
    try:
        async with pool.acquire() as conn:
            if not await corpora.city_exists(conn, city):
                raise SystemExit(f"build_search_index: no city {city!r} in Postgres; seed it first")
            docs = await corpora.venue_documents(conn, city)
    finally:
        await pool.close()
    return docs[:max_docs] if max_docs else docs


def probe_queries(corpus: str, docs) -> list[str]:
    """Queries for the recall measurement: SciFact's test claims, or (a city) the venues' names."""
    if corpus == "scifact":
        from shared.engine.search.scifact import default_dir, load_qrels, load_queries

        base = default_dir()
        queries = load_queries(base / "queries.jsonl")
        test = load_qrels(base / "qrels" / "test.tsv")
        return [queries[q] for q in sorted(test)][:RECALL_PROBES]
    return [d.title for d in docs][:RECALL_PROBES]


def build(args: argparse.Namespace, docs, out: Path) -> dict:
    """Embed, index, measure and write the bundle into `out`; returns the build record (bundle.json)."""
    from shared.engine.embeddings.encoder import OnnxSentenceEncoder
    from shared.engine.search import bundle as bundles
    from shared.engine.search.encoders import resolve_encoder
    from shared.engine.search.index import HNSWIndex, HNSWParams, recall_vs_exact

    spec = resolve_encoder(args.encoder, args.encoder_version)
    t0 = time.perf_counter()
    doc_encoder = OnnxSentenceEncoder(spec.doc_dir)
    vectors = doc_encoder.encode([d.full_text for d in docs])
    embed_s = time.perf_counter() - t0
    params = HNSWParams(args.m, args.ef_construction, args.ef_search)
    t1 = time.perf_counter()
    index = HNSWIndex.build(vectors, [d.id for d in docs], params)
    build_s = time.perf_counter() - t1
    query_encoder = doc_encoder if not spec.two_towers else OnnxSentenceEncoder(spec.query_dir)
    probes = probe_queries(args.corpus, docs)
    qv = query_encoder.encode(probes)
    recall = recall_vs_exact(index, vectors, qv, 10)
    index.save(out)
    bundles.write_docs(out, docs)
    if spec.kind == "fine-tuned":
        bundles.copy_query_tower(spec, out)
    version = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + bundles.bundle_hash(out)
    record = {"corpus": args.corpus, "version": version, "documents": len(docs),
              "max_docs": args.max_docs, "encoder": spec.describe(),
              "hnsw": {"m": params.m, "ef_construction": params.ef_construction, "ef_search": params.ef_search},
              "recall@10_vs_exact": recall, "recall_probes": len(probes),
              "probe_source": "scifact test queries" if args.corpus == "scifact" else "venue names",
              "seconds": {"embed": round(embed_s, 2), "build": round(build_s, 3)},
              "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (out / bundles.BUNDLE_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return record


async def register(corpus: str, version: str, artifact_path: str, record: dict):
    from shared.adapters.postgres import create_pool
    from shared.domains.catalogues.search_corpora import slug
    from shared.engine.registry.store import register_candidate
    from shared.engine.search.bundle import model_name

    pool = await create_pool()
    try:
        return await register_candidate(pool, model_name(slug(corpus)), version, artifact_path, record)
    finally:
        await pool.close()


async def promote(corpus: str, version: str, to: str) -> str:
    """candidate -> shadow (canary) -> production; returns the status reached."""
    from shared.adapters.postgres import create_pool
    from shared.domains.catalogues.search_corpora import slug
    from shared.engine.registry.store import get_model, transition
    from shared.engine.search.bundle import model_name

    name = model_name(slug(corpus))
    pool = await create_pool()
    try:
        current = (await get_model(pool, name, version)).status
        path = {"candidate": ["shadow", "production"], "shadow": ["production"]}.get(current, [])
        for step in path[: path.index(to) + 1] if to in path else []:
            current = (await transition(pool, name, version, step)).status
        return current
    finally:
        await pool.close()


def enqueue_warmup(corpus: str, version: str, limit: int) -> str:
    from shared.adapters.tasks import enqueue_http
    from shared.settings import get_settings

    url = get_settings().function_url(WARMUP_TARGET).rstrip("/") + "/"
    task_id = "warm-" + "".join(c if c.isalnum() else "-" for c in f"{corpus}-{version}")[:400]
    return enqueue_http(WARMUP_QUEUE, url, {"corpus": corpus, "index_version": version, "limit": limit},
                        task_id=task_id)


def main(argv: list[str] | None = None) -> int:
    from shared.domains.catalogues.search_corpora import slug
    from shared.domains.errors import DomainError

    args = parse_args(argv)
    try:
        corpus_slug = slug(args.corpus)
    except DomainError as exc:
        print(f"build_search_index: {exc.message}", file=sys.stderr)
        return 2
    summary: dict = {"corpus": args.corpus}
    if args.promote_version:
        version = args.promote_version
    else:
        docs = asyncio.run(_documents(args.corpus, args.max_docs))
        if not docs:
            print(f"build_search_index: {args.corpus} has no documents", file=sys.stderr)
            return 2
        from shared.engine.search import bundle as bundles

        with tempfile.TemporaryDirectory(prefix="search-index-") as tmp:
            record = build(args, docs, Path(tmp))
            version = record["version"]
            artifact = bundles.upload(Path(tmp), corpus_slug, version)
        asyncio.run(register(args.corpus, version, artifact, record))
        summary.update(record=record, artifact_path=artifact)
        print(f"build_search_index: {args.corpus}@{version}: {record['documents']} documents, recall@10 vs exact "
              f"{record['recall@10_vs_exact']:.4f}, stored at {artifact}", file=sys.stderr)
    summary["version"] = version
    if args.promote:
        summary["status"] = asyncio.run(promote(args.corpus, version, args.promote))
        if summary["status"] == "production" and not args.no_warmup:
            summary["warmup_task"] = enqueue_warmup(args.corpus, version, args.warmup_limit)
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

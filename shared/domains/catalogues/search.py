"""Semantic search serving: one index per corpus loaded once per instance, a Redis cache with atomic accounting,
labelled fallbacks, and the warm-up that fills the cache after a promotion.

Which index an instance serves. The registry (model name `search-index-<corpus slug>`) says: a stable instance
serves the `production` version; a candidate instance (SEARCH_INDEX_CHANNEL=candidate, the canary backend that
gets the declared share of traffic) serves the newest `shadow` version when there is one, else production. The
registry is asked again at most every SEARCH_INDEX_REFRESH_S seconds (30; the tests use 1), and a new version is
loaded in place, so a promotion reaches running instances without a redeploy. While one request refreshes, the
others keep serving the loaded version (a refresh never blocks the request path once something is loaded).

Fallbacks, each with its reason: no index registered, an index that cannot be downloaded or loaded, or a missing
encoder → BM25 over the corpus' documents (`served_by: bm25-fallback`). A fallback answer is not cached: it
would outlive the problem.

Every answer names the encoder (`model_version`), the index (`index_version`) and the backend revision
(`revision`: K_REVISION as Cloud Run sets it) that produced it. `cache.hit` is true only for an answer read from
Redis.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

from shared.domains.catalogues import search_corpora as corpora
from shared.domains.errors import NotFound
from shared.engine.search import bundle as bundles
from shared.engine.search.cache import SearchCache, normalise_query
from shared.engine.search.serve import LexicalOnly, answer

log = logging.getLogger("concierge.search")
CHANNEL_ENV = "SEARCH_INDEX_CHANNEL"
REFRESH_ENV = "SEARCH_INDEX_REFRESH_S"
WARMUP_REPORT_PREFIX = "search:warmup:last:"
SNIPPET_CHARS = bundles.TEXT_SNIPPET


def channel() -> str:
    value = os.environ.get(CHANNEL_ENV, "stable")
    return value if value in ("stable", "candidate") else "stable"


def revision() -> str:
    """The serving revision's name: Cloud Run sets K_REVISION; the local stack sets it per backend."""
    return os.environ.get("K_REVISION") or f"{os.environ.get('K_SERVICE', 'search')}-{channel()}"


def refresh_s() -> float:
    try:
        return float(os.environ.get(REFRESH_ENV, "30"))
    except ValueError:
        return 30.0


def _run(coro):
    from shared.adapters.aio import run_sync

    return run_sync(coro, timeout=30)


async def _with_conn(work):
    from shared.adapters.postgres import get_pool

    async with (await get_pool()).acquire() as conn:
        return await work(conn)


async def registered_version(conn, corpus: str, which: str):
    """The registry row an instance of channel `which` serves for `corpus` (None: nothing promoted)."""
    from shared.engine.registry.store import first_with_status, get_production

    name = bundles.model_name(corpora.slug(corpus))
    if which == "candidate":
        shadow = await first_with_status(conn, (name,), "shadow")
        if shadow is not None:
            return shadow
    return await get_production(conn, name)


def lexical_fallback(corpus: str, reason: str) -> LexicalOnly:
    """BM25 over the corpus' own documents; NotFound (field corpus) when the corpus does not exist."""
    city = corpora.city_of(corpus)
    if city is None:
        try:
            docs = corpora.scifact_documents()
        except OSError:
            raise NotFound(f"corpus {corpus} has no index and its documents are not available here",
                           "corpus") from None
    else:
        async def load(conn):
            if not await corpora.city_exists(conn, city):
                raise NotFound(f"no city {city!r}: seed it first", "corpus")
            return await corpora.venue_documents(conn, city)

        docs = _run(_with_conn(load))
    return LexicalOnly(docs, reason)


@dataclass
class _Slot:
    loaded: object = None
    checked_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Searcher:
    """The per-instance state: one loaded index (or lexical fallback) per corpus, and the cache."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._cache: SearchCache | None = None

    @property
    def cache(self) -> SearchCache:
        if self._cache is None:
            from shared.adapters.redis_cache import get_redis

            self._cache = SearchCache(get_redis())
        return self._cache

    def preload(self, corpus: str, loaded, *, pin: bool = False) -> None:
        """Serve `loaded` for `corpus` from now on (a benchmark measures the request path without a registry:
        pin=True never asks the registry again)."""
        with self._lock:
            slot = self._slots.setdefault(corpus, _Slot())
        slot.loaded, slot.checked_at = loaded, float("inf") if pin else time.monotonic()

    def loaded(self, corpus: str):
        with self._lock:
            slot = self._slots.setdefault(corpus, _Slot())
        stale = time.monotonic() - slot.checked_at > refresh_s()
        if slot.loaded is not None and not stale:
            return slot.loaded
        # the first load waits; a refresh is done by one request while the others keep the loaded version
        if not slot.lock.acquire(blocking=slot.loaded is None):
            return slot.loaded
        try:
            if slot.loaded is None or time.monotonic() - slot.checked_at > refresh_s():
                slot.loaded = self._refresh(corpus, slot.loaded)
                slot.checked_at = time.monotonic()
            return slot.loaded
        except Exception:
            if slot.loaded is None:   # an unknown corpus leaves nothing behind (names are caller-chosen)
                with self._lock:
                    self._slots.pop(corpus, None)
            raise
        finally:
            slot.lock.release()

    def _refresh(self, corpus: str, current):
        record = _run(_with_conn(lambda conn: registered_version(conn, corpus, channel())))
        if record is None:
            if isinstance(current, LexicalOnly):
                return current
            return lexical_fallback(corpus, f"no index of {corpus} is promoted (build one with jobs/build_search_index)")
        if current is not None and getattr(current, "version", None) == record.version:
            return current
        try:
            loaded = bundles.LoadedBundle(bundles.download(record.artifact_path))
            log.info("search: %s serves index %s (%s)", corpus, loaded.version, revision())
            return loaded
        except Exception as exc:
            reason = f"index {record.version} could not be loaded: {type(exc).__name__}: {exc}"[:300]
            log.warning("search: %s", reason)
            if current is not None and getattr(current, "index", None) is not None:
                return current  # keep serving the version already loaded
            return lexical_fallback(corpus, reason)

    def search(self, corpus: str, q: str, k: int, mode: str) -> dict:
        loaded = self.loaded(corpus)
        normalised = normalise_query(q)
        dense_ok = getattr(loaded, "index", None) is not None and getattr(loaded, "encoder", None) is not None
        key_mode = mode if dense_ok else "bm25"
        version = getattr(loaded, "version", None) or "none"
        # only queries an index answers are worth warming later: a lexical fallback's are not recorded
        hit = self.cache.lookup(corpus, version, normalised, k, key_mode, count_frequency=dense_ok)
        if hit.hit:
            body = hit.value
        else:
            body = render(loaded, corpus, normalised, k, mode)  # a pure function of the cache key
            if body["fallback_reason"] is None:
                self.cache.store(hit.key, corpus, body)
        return {**body, "query": q, "normalised_query": normalised, "k": k, "mode": mode, "revision": revision(),
                "cache": {"hit": hit.hit}}


def render(loaded, corpus: str, q: str, k: int, mode: str) -> dict:
    """The cacheable part of an answer (what does not depend on who asked or which revision served)."""
    result = answer(loaded, q, k, mode)
    docs = loaded.docs
    hits = [{"id": docs[row].id, "title": docs[row].title, "snippet": docs[row].text[:SNIPPET_CHARS],
             "score": round(float(score), 6), "rank": i + 1} for i, (row, score) in enumerate(result.rows)]
    dense = result.served_by != "bm25-fallback"
    return {"corpus": corpus, "results": hits, "served_by": result.served_by,
            "fallback_reason": result.fallback_reason, "score_kind": result.score_kind,
            "model_version": loaded.model_version if dense else None,
            "index_version": getattr(loaded, "version", None)}


_searcher: Searcher | None = None
_searcher_lock = threading.Lock()


def get_searcher() -> Searcher:
    global _searcher
    with _searcher_lock:
        if _searcher is None:
            _searcher = Searcher()
        return _searcher


def cache_stats() -> dict:
    import json

    cache = get_searcher().cache
    stats = cache.stats()
    reports = {}
    for key in cache.client.scan_iter(match=f"{WARMUP_REPORT_PREFIX}*", count=100):
        raw = cache.client.get(key)
        if raw:
            name = (key.decode() if isinstance(key, bytes) else key)[len(WARMUP_REPORT_PREFIX):]
            reports[name] = json.loads(raw)
    return {**stats, "warmups": dict(sorted(reports.items()))}


# --- warm-up -----------------------------------------------------------------------------------------------------

_warm_bundles: dict[tuple[str, str], object] = {}


def warm(corpus: str, index_version: str, *, limit: int, queries: list[str] | None, k: int, mode: str) -> dict:
    """Replay the most frequent recent (query, k, mode) of `corpus` (or the declared `queries` at k and mode)
    against index `index_version`, writing each answer the cache lacks. Lookups made here are not counted as a
    user's lookups (they would inflate the hit rate); the writes are counted as `warm_sets`. The report is kept
    in Redis (GET /v1/search/cache-stats shows the last one per corpus) and returned."""
    import json

    from shared.engine.registry.store import ModelNotFound, get_model

    started = time.perf_counter()
    name = bundles.model_name(corpora.slug(corpus))
    key = (corpus, index_version)
    if key not in _warm_bundles:
        try:
            record = _run(_with_conn(lambda conn: get_model(conn, name, index_version)))
        except ModelNotFound:
            raise NotFound(f"{name}@{index_version} is not registered", "index_version") from None
        _warm_bundles.clear()  # one version at a time: an instance warms what was just promoted
        _warm_bundles[key] = bundles.LoadedBundle(bundles.download(record.artifact_path))
    loaded = _warm_bundles[key]
    cache = get_searcher().cache
    if queries is not None:
        todo = list(dict.fromkeys((normalise_query(q), k, mode) for q in queries if q.strip()))[:limit]
        source = "declared"
    else:
        todo = [(q, kk, m) for q, kk, m, _count in cache.top_queries(corpus, limit)]
        source = "frequencies"
    warmed = already = failed = skipped = 0
    for query, kk, m in todo:
        try:
            if m not in ("dense", "hybrid"):  # recorded before this fix, or declared oddly: not an index answer
                skipped += 1
                continue
            if cache.contains(corpus, loaded.version, query, kk, m):
                already += 1
                continue
            body = render(loaded, corpus, query, kk, m)
            if body["fallback_reason"] is not None:
                failed += 1
                continue
            from shared.engine.search.cache import entry_key

            cache.store(entry_key(corpus, loaded.version, query, kk, m), corpus, body, warm=True)
            warmed += 1
        except Exception:
            log.exception("warm-up of %r failed", query)
            failed += 1
    report = {"corpus": corpus, "index_version": loaded.version, "source": source, "candidates": len(todo),
              "warmed": warmed, "already_cached": already, "failed": failed, "skipped": skipped,
              "seconds": round(time.perf_counter() - started, 3),
              "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    cache.client.set(WARMUP_REPORT_PREFIX + corpus, json.dumps(report), ex=30 * 86400)
    return report

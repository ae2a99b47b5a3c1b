"""Ranked results per (city, archetype), cached in Redis per (city, archetype, day part, trip day).

A miss ranks once for the whole archetype (one ranker call), derives all 15 combinations from that
ranking and stores them with the base (the full scored candidate set, kept for logging and for the
venue records assembly needs). A hit reads them with one MGET and calls no ranker. Concurrent misses
of the same archetype rank once: the first takes a short Redis lock, the others wait for its result.

Redis is the shared cache; each process also keeps the decoded rankings it has read (a small L1), because
decoding a base of 200 venues costs more than the rest of a cached request. An L1 entry is used only
while Redis still names the same base (`base_id_key`, one short GET), so clearing or re-ranking in Redis
invalidates every process's copy.

Warm users with a production ML model bypass the archetype cache: their ranking is personal.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from shared.domains.travel.trips.archetypes import ARCHETYPES
from shared.domains.travel.trips.dayparts import DAY_PARTS
from shared.domains.travel.trips.persona import compressed, template_description, Persona, persona_embedding, user_tower
from shared.domains.travel.trips.scoring import derive_combos
from shared.domains.travel.trips.venues import from_cache, retrieve, to_cache
from shared.engine.serving.cache import FALLBACK_TTL_S, MAX_CACHED_DAY, RankedCache, base_id_key, base_key, ranked_key
from shared.engine.serving.router import RankerRouter
from shared.engine.serving.types import Candidate, RankingContext, RankResult

log = logging.getLogger(__name__)
LOCK_WAIT_S = 3.0
LOCAL_ENTRIES = 32   # (city, archetype) rankings kept decoded per process


@dataclass
class Ranking:
    """One ranking and what assembly needs from it."""
    city: str
    archetype: str | None               # None for a personal (uncached) ranking
    items: list[tuple[str, float, float]]   # (id, score, confidence), best first, the full candidate set
    venues: dict[str, Candidate]
    combos: dict[tuple[str, int], list[tuple[str, float]]]
    ranker: str
    model_version: str
    served_by: str
    fallback_reason: str | None
    cache_hit: bool
    ranker_calls: int = 0
    base_id: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    arbitration: dict | None = None     # warm users: which ranking won and why

    def combo(self, day_part: str, day: int) -> list[tuple[str, float]]:
        return self.combos[(day_part, min(day, MAX_CACHED_DAY))]


class LocalRankings:
    """The process-local L1 in front of Redis: decoded archetype rankings by base key, least recently used out."""

    def __init__(self, size: int = LOCAL_ENTRIES):
        self.size = size
        self._items: OrderedDict[str, Ranking] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, base_id: str | None) -> Ranking | None:
        if base_id is None:
            return None
        with self._lock:
            found = self._items.get(key)
            if found is None or found.base_id != base_id:
                return None
            self._items.move_to_end(key)
        return replace(found, cache_hit=True, ranker_calls=0, timings={})

    def put(self, key: str, ranking: Ranking) -> None:
        if ranking.base_id is None:
            return
        with self._lock:
            self._items[key] = ranking
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


local_rankings = LocalRankings()


def default_vibe_encoder(texts: list[str]) -> np.ndarray:
    from shared.engine.embeddings.encoder import get_encoder
    from shared.engine.embeddings.vibe import get_projection

    return get_projection().project(get_encoder().encode(texts))


@lru_cache(maxsize=8)
def archetype_persona(name: str) -> Persona:
    tags = ARCHETYPES[name]
    return Persona(tags, template_description(tags), "template", name, persona_embedding(tags, default_vibe_encoder))


def _combos_from(items, venues, days: int) -> dict[tuple[str, int], list[tuple[str, float]]]:
    base = [(i, s) for i, s, _ in items]
    return derive_combos(base, venues, DAY_PARTS, range(1, days + 1))


def _to_ranking(city, archetype, base: dict, combos: dict, hit: bool, calls: int,
                venues: dict[str, Candidate] | None = None) -> Ranking:
    venues = venues if venues is not None else {d["id"]: from_cache(d) for d in base["venues"]}
    return Ranking(city, archetype, [tuple(x) for x in base["items"]], venues,
                   {k: [tuple(x) for x in v] for k, v in combos.items()},
                   base["ranker"], base["model_version"], base["served_by"], base.get("fallback_reason"), hit, calls,
                   base.get("base_id"), arbitration=base.get("arbitration"))


async def rank_candidates(router: RankerRouter, ctx: RankingContext, cands: list[Candidate]) -> RankResult:
    # the router may block on an LLM call for up to its budget: keep the event loop free meanwhile
    return await asyncio.get_running_loop().run_in_executor(None, router.rank, ctx, cands)


async def _compute_base(conn, qdrant, city: str, persona: Persona, router: RankerRouter, signal_count: int,
                        user_id: str) -> tuple[dict, int]:
    t0 = time.perf_counter()
    query = user_tower(persona.embedding)
    retrieval_error = None
    try:
        cands = await retrieve(conn, qdrant, city, query)
    except Exception as exc:  # index missing or unreachable: an empty itinerary with the reason, never a 500
        log.exception("retrieval failed for %s", city)
        cands, retrieval_error = [], f"venue index unavailable for {city}: {type(exc).__name__}"
    t1 = time.perf_counter()
    ctx = RankingContext(user_id=user_id, signal_count=signal_count, persona_text=compressed(persona),
                         tags=persona.tags.vibe_terms(), user_vector=query)
    before = len(router.calls)
    result = await rank_candidates(router, ctx, cands)
    calls = len(router.calls) - before
    base = {
        "base_id": uuid.uuid4().hex,  # identifies this ranking: assembled plans cached on top of it name it
        "items": [[i.id, i.score, i.confidence] for i in result.items],
        "venues": [to_cache(c) for c in cands],
        "ranker": result.ranker, "model_version": result.model_version, "served_by": result.served_by,
        "fallback_reason": retrieval_error or result.fallback_reason, "arbitration": result.arbitration,
        "timings_ms": {"retrieval": round((t1 - t0) * 1000, 1), "ranking": round(result.latency_ms, 1)},
    }
    return base, calls


async def archetype_ranking(conn, qdrant, redis, city: str, archetype: str,
                            router_factory: Callable[[], RankerRouter]) -> Ranking:
    """The archetype's ranking with all its combinations (every cached trip day; later days reuse the
    last), from the L1, then Redis, then the ranker."""
    cache = RankedCache(redis)
    bkey = base_key(city, archetype)
    local = local_rankings.get(bkey, (await cache.get_many([base_id_key(city, archetype)]))[0])
    if local is not None:
        return local
    wanted = [(p, d) for p in DAY_PARTS for d in range(1, MAX_CACHED_DAY + 1)]
    keys = [bkey] + [ranked_key(city, archetype, p, d) for p, d in wanted]
    values = await cache.get_many(keys)
    base, combo_vals = values[0], values[1:]
    if base is not None and all(v is not None for v in combo_vals):
        ranking = _to_ranking(city, archetype, base, {k: v for k, v in zip(wanted, combo_vals)}, True, 0)
        local_rankings.put(bkey, ranking)
        return ranking
    calls, computed = 0, False
    if base is None:
        locked = await cache.acquire(bkey)
        if not locked:  # someone else is ranking this archetype: wait for their result
            deadline = time.monotonic() + LOCK_WAIT_S
            while time.monotonic() < deadline and base is None:
                await asyncio.sleep(0.05)
                base = (await cache.get_many([bkey]))[0]
        if base is None:
            try:
                base, calls = await _compute_base(conn, qdrant, city, archetype_persona(archetype), router_factory(),
                                                  0, f"archetype:{archetype}")
                computed = True
            finally:
                if locked:
                    await cache.release(bkey)
    venues = {d["id"]: from_cache(d) for d in base["venues"]}
    combos = _combos_from(base["items"], venues, MAX_CACHED_DAY)
    to_store = {ranked_key(city, archetype, p, d): v for (p, d), v in combos.items()}
    if computed and base["venues"]:
        to_store[bkey] = base
        to_store[base_id_key(city, archetype)] = base["base_id"]
    elif not base["venues"]:
        to_store = {}  # never cache an empty ranking: the index may be back on the next request
    # the LLM was wanted but failed (or its budget is spent): keep the stand-in briefly, not for the full TTL
    llm_failed = str(base.get("fallback_reason") or "").startswith("llm_")
    await cache.set_many(to_store, ttl_s=FALLBACK_TTL_S if llm_failed else None)
    ranking = _to_ranking(city, archetype, base, combos, False, calls, venues)
    if to_store:
        local_rankings.put(bkey, replace(ranking, ranker_calls=0))
    return ranking


async def personal_ranking(conn, qdrant, city: str, persona: Persona, user_id: str, signal_count: int,
                           days: int, router: RankerRouter) -> Ranking:
    base, calls = await _compute_base(conn, qdrant, city, persona, router, signal_count, user_id)
    venues = {d["id"]: from_cache(d) for d in base["venues"]}
    combos = _combos_from(base["items"], venues, min(days, MAX_CACHED_DAY))
    return _to_ranking(city, None, base, combos, False, calls, venues)

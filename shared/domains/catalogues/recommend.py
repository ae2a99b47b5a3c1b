"""Recommendations for any catalogue: the fallback chain, batch, similar items and users, cold start.

The chain, per user, and the reason each step gives when it cannot serve (the response carries `served_by`,
`model_version` and `fallback_reason`, so a fallback is never mistaken for the model):

1. two_tower: the production `recs-<catalogue>-two_tower` embeds the user's history (the last HISTORY items,
   read at request time, so an interaction stored a second ago already counts) with its ONNX user tower and
   scores every item by dot product with the precomputed item tower. Needs a model and a history.
2. als: the production `recs-<catalogue>-als` (implicit ALS), for users in its training data.
3. popularity: interaction weight with a 30-day half-life decay; always there.

A model that raises or takes longer than MODEL_BUDGET_S moves the request down the chain with that reason.
Then, in this order: the user's seen items are removed (exclude_seen), the filters applied (any of `categories`,
never `exclude_item_ids`), and with `diversity` d > 0 the top POOL_FACTOR * k are re-ranked by MMR with
λ = 1 - d over the items' text embeddings. Scores stay the serving model's own.

Batch answers up to 100 users in one pass: one history query, one matrix product per model, the same per-user
steps; it equals the single calls (a test checks it).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import numpy as np

from shared.domains.catalogues import store
from shared.domains.catalogues.models import MODELS, CatalogueModels, LoadedModel
from shared.domains.catalogues.result_cache import RESULTS, result_key
from shared.domains.catalogues.schemas import (BatchRecommendRequest, ColdStartRequest, Filters, RecommendRequest,
                                              SimilarItemsRequest, SimilarUsersRequest)
from shared.domains.catalogues.view_models import (BatchRecommendations, CacheInfo, ColdStart, RecommendedItem,
                                                  Recommendations, SimilarItems, SimilarUser, SimilarUsers)
from shared.domains.errors import InvalidRequest, NotFound

log = logging.getLogger("concierge.recommendations")

HISTORY = 50           # the most recent items the user tower reads
SEEN_LIMIT = 10_000    # the items exclude_seen removes: all of them, up to this many
MODEL_BUDGET_S = 0.05
POOL_FACTOR = 5
NEG = -np.inf


@dataclass
class Served:
    """One user's scores over the catalogue's items, and who produced them."""
    kind: str
    model_version: str
    scores: np.ndarray
    reasons: list[str]


@dataclass
class Deps:
    conn: object
    qdrant: object
    redis: object


# --- scoring -----------------------------------------------------------------------------------------------------
def _aligned(model: LoadedModel, raw: np.ndarray, n_items: int) -> np.ndarray:
    """Model scores (rows x model items) onto catalogue positions; items the model does not know get -inf."""
    out = np.full((raw.shape[0], n_items), NEG, dtype=np.float64)
    valid = model.item_codes >= 0
    out[:, model.item_codes[valid]] = raw[:, valid]
    return out


def _two_tower(cat: CatalogueModels, histories: list[list[str]]) -> np.ndarray:
    model = cat.models["two_tower"]
    batch = getattr(model.ranker, "embed_histories", None)  # one ONNX run for the whole batch
    users = np.asarray(batch(histories) if batch else [model.ranker.embed_history(h) for h in histories], np.float64)
    return _aligned(model, users @ model.item_matrix().T, len(cat.item_ids))


def _als(cat: CatalogueModels, user_ids: list[str]) -> np.ndarray:
    model = cat.models["als"]
    codes = np.array([model.ranker.user_code(u) for u in user_ids])
    users = np.asarray(model.ranker.user_factors[codes], dtype=np.float64)
    return _aligned(model, users @ model.item_matrix().T, len(cat.item_ids))


async def _within_budget(fn, *args):
    return await asyncio.wait_for(asyncio.to_thread(fn, *args), timeout=MODEL_BUDGET_S)


async def _chain(cat: CatalogueModels, user_ids: list[str], histories: list[list[str]]) -> list[Served]:
    """Who serves each user, in one pass per model."""
    served: list[Served | None] = [None] * len(user_ids)
    reasons: list[list[str]] = [[] for _ in user_ids]
    tt = cat.models.get("two_tower")
    if tt is None:
        for r in reasons:
            r.append(f"two_tower: {cat.missing.get('two_tower')}")
    else:
        rows = [i for i, h in enumerate(histories) if h]
        for i, h in enumerate(histories):
            if not h:
                reasons[i].append("two_tower: the user has no history in this catalogue")
        if rows:
            try:
                scores = await _within_budget(_two_tower, cat, [histories[i] for i in rows])
                for j, i in enumerate(rows):
                    served[i] = Served("two_tower", tt.served_by, scores[j], reasons[i])
            except Exception as exc:  # noqa: BLE001 - any model failure moves down the chain, with its reason
                why = "timed out" if isinstance(exc, TimeoutError) else f"failed ({type(exc).__name__})"
                log.warning("%s %s for %d user(s): %s", tt.served_by, why, len(rows), exc)
                for i in rows:
                    reasons[i].append(f"two_tower: {tt.served_by} {why}")
    als = cat.models.get("als")
    left = [i for i, s in enumerate(served) if s is None]
    if als is None:
        for i in left:
            reasons[i].append(f"als: {cat.missing.get('als')}")
    elif left:
        known = [i for i in left if als.ranker.user_code(user_ids[i]) >= 0]
        for i in set(left) - set(known):
            reasons[i].append(f"als: the user is not in {als.served_by}'s training data")
        if known:
            try:
                scores = await _within_budget(_als, cat, [user_ids[i] for i in known])
                for j, i in enumerate(known):
                    served[i] = Served("als", als.served_by, scores[j], reasons[i])
            except Exception as exc:  # noqa: BLE001
                why = "timed out" if isinstance(exc, TimeoutError) else f"failed ({type(exc).__name__})"
                log.warning("%s %s: %s", als.served_by, why, exc)
                for i in known:
                    reasons[i].append(f"als: {als.served_by} {why}")
    return [s if s is not None else Served("popularity", cat.popularity_version, cat.popularity, reasons[i])
            for i, s in enumerate(served)]


# --- from scores to a list -----------------------------------------------------------------------------------------
def _allowed(cat: CatalogueModels, filters: Filters) -> np.ndarray:
    mask = np.ones(len(cat.item_ids), dtype=bool)
    if filters.categories:
        wanted = set(filters.categories)
        known = {c for cats in cat.categories for c in cats}
        unknown = sorted(wanted - known)
        if unknown:
            raise InvalidRequest(f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown[:5])}; "
                                 f"this catalogue has {len(known)} (e.g. {', '.join(sorted(known)[:5])})",
                                 "filters.categories")
        mask &= np.fromiter((bool(wanted.intersection(c)) for c in cat.categories), dtype=bool, count=len(mask))
    for item in filters.exclude_item_ids or ():
        i = cat.index.get(item)
        if i is not None:
            mask[i] = False
    return mask


def _mmr(cat: CatalogueModels, pool: np.ndarray, scores: np.ndarray, k: int, diversity: float) -> np.ndarray:
    """Greedy MMR over the pool (positions, best first): λ·relevance − (1−λ)·max cosine to the chosen ones,
    relevance min-max scaled over the pool so that it and the similarity share a [0, 1] scale."""
    if diversity <= 0 or cat.text_vectors is None or len(pool) <= 1:
        return pool[:k]
    lam = 1.0 - diversity
    rel = scores[pool]
    rel = (rel - rel.min()) / ((rel.max() - rel.min()) or 1.0)
    vecs = cat.text_vectors[pool]
    sim_max = np.full(len(pool), -np.inf)
    chosen: list[int] = []
    free = np.ones(len(pool), dtype=bool)
    for _ in range(min(k, len(pool))):
        penalty = np.where(np.isfinite(sim_max), sim_max, 0.0)
        value = np.where(free, lam * rel - (1 - lam) * penalty, -np.inf)
        j = int(np.argmax(value))
        chosen.append(j)
        free[j] = False
        sim_max = np.maximum(sim_max, vecs @ vecs[j])
    return pool[chosen]


def _top(cat: CatalogueModels, scores: np.ndarray, mask: np.ndarray, k: int, diversity: float) -> list[RecommendedItem]:
    usable = np.where(mask & np.isfinite(scores))[0]
    if usable.size == 0:
        return []
    want = min(usable.size, k * POOL_FACTOR if diversity > 0 else k)
    part = usable[np.argpartition(-scores[usable], want - 1)[:want]] if want < usable.size else usable
    pool = part[np.lexsort((part, -scores[part]))]  # best first; ties by catalogue position, so stable
    picked = _mmr(cat, pool, scores, k, diversity)
    return [RecommendedItem(item_id=cat.item_ids[i], title=cat.titles[i], categories=list(cat.categories[i]),
                            score=round(float(scores[i]), 6)) for i in picked]


def _answer(cat: CatalogueModels, user_id: str, served: Served, history: list[str], req) -> dict:
    mask = _allowed(cat, req.filters)
    if req.exclude_seen:
        for item in history:
            i = cat.index.get(item)
            if i is not None:
                mask[i] = False
    items = _top(cat, served.scores, mask, req.k, float(req.diversity))
    return Recommendations(catalogue=cat.catalogue_id, user_id=user_id, items=items, served_by=served.kind,
                           model_version=served.model_version, fallback_reason="; ".join(served.reasons) or None,
                           diversity=float(req.diversity), cache=CacheInfo(hit=False, layer=None)).model_dump()


def _request_key(req) -> str:
    return f"k={req.k}|seen={int(req.exclude_seen)}|d={float(req.diversity):.4f}|{req.filters.key()}"


async def _recommend_many(deps: Deps, catalogue_id: str, user_ids: list[str], req) -> list[dict]:
    """Cached lists where the cache has them; the rest computed in one pass (histories, models) and stored."""
    cat = await MODELS.get(deps.conn, deps.qdrant, catalogue_id)
    _allowed(cat, req.filters)  # an unknown category is a 400 even when every list is cached
    unique = list(dict.fromkeys(user_ids))
    versions = await RESULTS.history_versions(deps.redis, catalogue_id, unique)
    keys = [result_key(catalogue_id, u, _request_key(req), cat.versions(), v) for u, v in zip(unique, versions)]
    lookups = await RESULTS.get_many(deps.redis, keys)
    answers: dict[str, dict] = {}
    for user, found in zip(unique, lookups):
        if found.hit:
            answers[user] = {**found.value, "cache": {"hit": True, "layer": found.layer}}
    missing = [u for u in unique if u not in answers]
    if missing:
        histories = await store.users_histories(deps.conn, catalogue_id, missing, SEEN_LIMIT)
        seen = [histories.get(u, []) for u in missing]
        recent = [h[-HISTORY:] for h in seen]
        fresh = {}
        for user, history, served in zip(missing, seen, await _chain(cat, missing, recent)):
            answers[user] = _answer(cat, user, served, history, req)
            fresh[keys[unique.index(user)]] = answers[user]
        await RESULTS.put_many(deps.redis, fresh)
    return [answers[u] for u in user_ids]


async def recommend(deps: Deps, catalogue_id: str, req: RecommendRequest) -> dict:
    return (await _recommend_many(deps, catalogue_id, [req.user_id], req))[0]


async def recommend_batch(deps: Deps, catalogue_id: str, req: BatchRecommendRequest) -> dict:
    results = await _recommend_many(deps, catalogue_id, req.user_ids, req)
    return BatchRecommendations(catalogue=catalogue_id, results=results).model_dump()


# --- similar items and users ---------------------------------------------------------------------------------------
def _nearest(vectors: np.ndarray, query: np.ndarray, k: int, exclude: int | None) -> list[tuple[int, float]]:
    sims = vectors @ query
    if exclude is not None:
        sims[exclude] = -np.inf
    k = min(k, int(np.isfinite(sims).sum()))
    top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
    top = top[np.lexsort((top, -sims[top]))][:k]
    return [(int(i), float(sims[i])) for i in top if np.isfinite(sims[i])]


def _unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return m / np.where(norms > 0, norms, 1.0)


async def similar_items(deps: Deps, catalogue_id: str, req: SimilarItemsRequest) -> dict:
    """Items closest to one item: by the two-tower item tower when a model serves, else by text embedding."""
    cat = await MODELS.get(deps.conn, deps.qdrant, catalogue_id)
    i = cat.index.get(req.item_id)
    if i is None:
        raise NotFound(f"no item {req.item_id!r} in catalogue {catalogue_id!r}", "item_id")
    tt, reason = cat.models.get("two_tower"), None
    if tt is not None:
        vectors = _unit(np.asarray(tt.ranker.item_vectors, dtype=np.float32))
        row = np.where(tt.item_codes == i)[0]
        if row.size:
            aligned = np.zeros((len(cat.item_ids), vectors.shape[1]), dtype=np.float32)
            valid = tt.item_codes >= 0
            aligned[tt.item_codes[valid]] = vectors[valid]
            near = _nearest(aligned, aligned[i], req.k, i)
            return SimilarItems(catalogue=catalogue_id, item_id=req.item_id, items=_items(cat, near),
                                served_by="two_tower", model_version=tt.served_by, fallback_reason=None).model_dump()
        reason = f"two_tower: {tt.served_by} was trained before this item existed"
    else:
        reason = f"two_tower: {cat.missing.get('two_tower')}"
    if cat.text_vectors is None:
        raise NotFound(f"catalogue {catalogue_id!r} has no item embeddings yet; re-run its import", "catalogue")
    near = _nearest(cat.text_vectors, cat.text_vectors[i], req.k, i)
    return SimilarItems(catalogue=catalogue_id, item_id=req.item_id, items=_items(cat, near), served_by="text",
                        model_version=f"text@{cat.embedding_version}", fallback_reason=reason).model_dump()


def _items(cat: CatalogueModels, near: list[tuple[int, float]]) -> list[RecommendedItem]:
    return [RecommendedItem(item_id=cat.item_ids[i], title=cat.titles[i], categories=list(cat.categories[i]),
                            score=round(s, 6)) for i, s in near]


async def similar_users(deps: Deps, catalogue_id: str, req: SimilarUsersRequest) -> dict:
    """Users whose ALS factors are closest (cosine) to this user's: only users a model was trained on have them."""
    cat = await MODELS.get(deps.conn, deps.qdrant, catalogue_id)
    als = cat.models.get("als")
    if als is None:
        raise NotFound(f"similar users need a production ALS model for {catalogue_id!r}: "
                       f"{cat.missing.get('als')}", "catalogue")
    code = als.ranker.user_code(req.user_id)
    if code < 0:
        raise NotFound(f"user {req.user_id!r} is not in {als.served_by}'s training data (new users appear after "
                       "the next training run)", "user_id")
    factors = _user_unit_factors(als)
    near = _nearest(factors, factors[code], req.k, code)
    users = [SimilarUser(user_id=str(als.ranker.user_ids[j]), score=round(s, 6)) for j, s in near]
    return SimilarUsers(catalogue=catalogue_id, user_id=req.user_id, users=users, served_by="als",
                        model_version=als.served_by, fallback_reason=None).model_dump()


_UNIT_FACTORS: dict[str, np.ndarray] = {}


def _user_unit_factors(als: LoadedModel) -> np.ndarray:
    key = als.served_by
    if key not in _UNIT_FACTORS:
        _UNIT_FACTORS.clear()
        _UNIT_FACTORS[key] = _unit(np.asarray(als.ranker.user_factors, dtype=np.float32))
    return _UNIT_FACTORS[key]


# --- cold start ----------------------------------------------------------------------------------------------------
def _zscore(v: np.ndarray) -> np.ndarray:
    finite = np.isfinite(v)
    if not finite.any():
        return v
    mu, sd = v[finite].mean(), v[finite].std() or 1.0
    return np.where(finite, (v - mu) / sd, NEG)


async def cold_start(deps: Deps, catalogue_id: str, req: ColdStartRequest) -> dict:
    """Items for someone with no history: the two-tower user tower over the liked items, the text encoder over
    the tastes (cosine to the items' text embeddings), or both (z-scored and averaged); popularity when neither
    can say anything."""
    cat = await MODELS.get(deps.conn, deps.qdrant, catalogue_id)
    unknown = [i for i in req.liked_item_ids if i not in cat.index]
    if unknown:
        raise InvalidRequest(f"unknown item id(s) {', '.join(unknown[:5])} in catalogue {catalogue_id!r}",
                             "liked_item_ids")
    parts, kinds, versions, reasons = [], [], [], []
    if req.liked_item_ids:
        tt = cat.models.get("two_tower")
        if tt is None:
            reasons.append(f"two_tower: {cat.missing.get('two_tower')}")
        else:
            try:
                parts.append(_zscore((await _within_budget(_two_tower, cat, [list(req.liked_item_ids)]))[0]))
                kinds.append("two_tower")
                versions.append(tt.served_by)
            except Exception as exc:  # noqa: BLE001
                reasons.append(f"two_tower: {tt.served_by} failed ({type(exc).__name__})")
    if req.tastes:
        if cat.text_vectors is None:
            reasons.append("text: the catalogue has no item embeddings")
        else:
            from shared.engine.embeddings.encoder import get_encoder

            query = (await asyncio.to_thread(get_encoder().encode, [req.tastes]))[0].astype(np.float32)
            parts.append(_zscore((cat.text_vectors @ query).astype(np.float64)))
            kinds.append("text")
            versions.append(f"text@{cat.embedding_version}")
    if parts:
        scores, served_by, version = np.mean(parts, axis=0), "+".join(kinds), "+".join(versions)
    else:
        scores, served_by, version = cat.popularity, "popularity", cat.popularity_version
    mask = _allowed(cat, req.filters)
    for item in req.liked_item_ids:
        mask[cat.index[item]] = False
    items = _top(cat, scores, mask, req.k, float(req.diversity))
    return ColdStart(catalogue=catalogue_id, items=items, served_by=served_by, model_version=version,
                     fallback_reason="; ".join(reasons) or None, diversity=float(req.diversity)).model_dump()

"""What one catalogue is served by, loaded once per instance and refreshed when the registry or the catalogue moves.

Per catalogue: its items (ids, titles, categories), their text embeddings (from the catalogue's Qdrant collection,
for MMR and for free-text cold start), the production models of the registry names `recs-<catalogue>-two_tower`
and `recs-<catalogue>-als`, and popularity (interaction count with recency decay). Every model is optional:
the fallback chain (recommend.py) says which one served and why the ones before it did not.

Refresh: the registry is asked at most every REFRESH_S seconds (RECS_MODEL_REFRESH_S) whether a name's production version changed (a
promote or a rollback); a changed version is downloaded and swapped in whole, so a request never sees half a
model. Popularity is recomputed on the same clock, so new interactions reach it within REFRESH_S.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from shared.domains.catalogues import store
from shared.domains.errors import NotFound

log = logging.getLogger("concierge.recommendations")

REFRESH_S = float(os.environ.get("RECS_MODEL_REFRESH_S", "30"))  # the tests' stack sets 1: a rollback shows at once
POPULARITY_HALF_LIFE_DAYS = 30.0
MODEL_KINDS = ("two_tower", "als")


def registry_name(catalogue_id: str, kind: str) -> str:
    return f"recs-{catalogue_id}-{kind}"


@dataclass
class LoadedModel:
    kind: str
    served_by: str          # "<registry name>@<version>"
    version: str
    ranker: object
    item_codes: np.ndarray  # catalogue position of each of the model's items (-1: not in the catalogue)
    _items64: np.ndarray | None = None

    def item_matrix(self) -> np.ndarray:
        """The model's item side (two-tower item vectors, ALS item factors) as float64, converted once: one user
        alone and the same user in a batch then get the same scores (float32 GEMM and GEMV round differently,
        which can swap two near-tied items)."""
        if self._items64 is None:
            side = self.ranker.item_vectors if self.kind == "two_tower" else self.ranker.item_factors
            self._items64 = np.ascontiguousarray(side, dtype=np.float64)
        return self._items64


@dataclass
class CatalogueModels:
    catalogue_id: str
    item_ids: list[str]
    index: dict[str, int]
    titles: list[str]
    categories: list[tuple[str, ...]]
    text_vectors: np.ndarray | None          # (n_items, d), L2-normalised; None when the collection is missing
    embedding_version: str | None
    popularity: np.ndarray                   # (n_items,) decayed interaction weight
    popularity_version: str
    models: dict[str, LoadedModel] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)   # kind -> why it is not loaded
    checked_at: float = 0.0

    def versions(self) -> str:
        """Every model version the answers depend on, for cache keys: a promotion changes the key."""
        parts = [f"{k}={m.version}" for k, m in sorted(self.models.items())]
        return ";".join(parts + [f"pop={self.popularity_version}"])


def _codes(model_items, index: dict[str, int]) -> np.ndarray:
    return np.fromiter((index.get(str(i), -1) for i in model_items), dtype=np.int64, count=len(model_items))


def _model_items(ranker) -> list[str]:
    items = getattr(ranker, "item_ids", None)
    if items is None:
        raise ValueError(f"{type(ranker).__name__} exposes no item_ids")
    return [str(i) for i in items]


async def _load_model(conn, catalogue_id: str, kind: str, index: dict[str, int],
                      current: LoadedModel | None) -> tuple[LoadedModel | None, str | None]:
    from shared.engine.registry.artifacts import download_artifact
    from shared.engine.registry.store import get_production

    name = registry_name(catalogue_id, kind)
    record = await get_production(conn, name)
    if record is None:
        return None, f"no production {name} in the registry"
    if current is not None and current.version == record.version:
        return current, None
    try:
        ranker = await asyncio.to_thread(download_artifact, record.artifact_path)
        model = LoadedModel(kind, record.served_by, record.version, ranker, _codes(_model_items(ranker), index))
        model.item_matrix()  # converted now, not on the first request
    except Exception as exc:  # a broken artifact must not take the catalogue down: the chain moves on
        log.warning("could not load %s: %s: %s", record.served_by, type(exc).__name__, exc)
        return None, f"{record.served_by} could not be loaded ({type(exc).__name__})"
    log.info("loaded %s", model.served_by)
    return model, None


async def _popularity(conn, catalogue_id: str, index: dict[str, int]) -> tuple[np.ndarray, str]:
    now = datetime.now(UTC)
    counts = await store.popularity(conn, catalogue_id, POPULARITY_HALF_LIFE_DAYS, now)
    pop = np.zeros(len(index), dtype=np.float64)
    for item, weight in counts.items():
        i = index.get(item)
        if i is not None:
            pop[i] = weight
    return pop, f"popularity-hl{POPULARITY_HALF_LIFE_DAYS:g}d@{now:%Y%m%dT%H%M%S}"


class ModelCache:
    """The process's catalogues: loaded on first use, refreshed every REFRESH_S seconds (per catalogue)."""

    def __init__(self) -> None:
        self._catalogues: dict[str, CatalogueModels] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def clear(self) -> None:
        self._catalogues.clear()

    async def get(self, conn, qdrant, catalogue_id: str) -> CatalogueModels:
        cat = self._catalogues.get(catalogue_id)
        if cat is not None and time.monotonic() - cat.checked_at < REFRESH_S:
            return cat
        lock = self._locks.setdefault(catalogue_id, asyncio.Lock())
        async with lock:
            cat = self._catalogues.get(catalogue_id)
            if cat is None or time.monotonic() - cat.checked_at >= REFRESH_S:
                cat = await self._refresh(conn, qdrant, catalogue_id, cat)
                self._catalogues[catalogue_id] = cat
        return cat

    async def _refresh(self, conn, qdrant, catalogue_id: str, cat: CatalogueModels | None) -> CatalogueModels:
        info = await store.get_catalogue(conn, catalogue_id)
        if info is None:
            raise NotFound(f"no catalogue {catalogue_id!r}; import it first (jobs.import_catalogue)", "catalogue")
        if cat is None or cat.embedding_version != info.embedding_version or len(cat.item_ids) != info.item_count:
            cat = await self._load_items(conn, qdrant, catalogue_id, info.embedding_version)
        cat.popularity, cat.popularity_version = await _popularity(conn, catalogue_id, cat.index)
        models, missing = {}, {}
        for kind in MODEL_KINDS:
            model, why = await _load_model(conn, catalogue_id, kind, cat.index, cat.models.get(kind))
            if model is not None:
                models[kind] = model
            else:
                missing[kind] = why
        cat.models, cat.missing, cat.checked_at = models, missing, time.monotonic()
        return cat

    async def _load_items(self, conn, qdrant, catalogue_id: str, embedding_version: str | None) -> CatalogueModels:
        rows = await store.all_items(conn, catalogue_id)
        item_ids = [r.item_id for r in rows]
        index = {item: i for i, item in enumerate(item_ids)}
        vectors = None
        try:
            ids, matrix = await store.item_vectors(qdrant, catalogue_id)
            vectors = np.zeros((len(item_ids), matrix.shape[1]), dtype=np.float32)
            for item, row in zip(ids, matrix):
                if item in index:
                    vectors[index[item]] = row
        except Exception as exc:  # no collection: MMR and free-text cold start say so instead of failing
            log.warning("no text embeddings for %s: %s: %s", catalogue_id, type(exc).__name__, exc)
        return CatalogueModels(catalogue_id, item_ids, index, [r.title for r in rows], [tuple(r.categories) for r in rows],
                               vectors, embedding_version, np.zeros(len(item_ids)), "")


MODELS = ModelCache()

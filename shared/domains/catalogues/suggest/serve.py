"""POST /v1/suggest: candidates -> features (the one feature definition) -> the arm's production ranker -> a list,
with one signed impression id per item; impressions are published to Pub/Sub off the response path.

The ranker is the production model of the arm's registry name (suggest.yaml), loaded once per instance and asked
for again at most every REFRESH_S seconds (SUGGEST_MODEL_REFRESH_S), so a promotion or a removal reaches serving
within that time. The rule fallback (smoothed item click rate x position lift over the same candidates,
engine/suggest/rankers.RuleRanker) answers when that model is missing, cannot be loaded, fails or takes longer than
TIMEOUT_S (SUGGEST_MODEL_TIMEOUT_MS); the answer then says `served_by: rule` and why in `fallback_reason`. Its
"recency" part is absent on purpose: the sample's items carry no age, so a recency factor would be made up.

The policy is deterministic (greedy per slot), so every logged impression's propensity is 1.0, said so in the
logged event: an off-policy estimate of a new ranker needs the exploration of the uniform Open Bandit log, which is
what jobs/suggest_retrain evaluates on.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from shared.domains.catalogues.suggest import impressions
from shared.domains.catalogues.suggest.ab import assign
from shared.domains.catalogues.suggest.catalogue import get_catalogue
from shared.domains.catalogues.suggest.config import get_config
from shared.domains.catalogues.suggest.schemas import SuggestRequest
from shared.domains.errors import InvalidRequest

log = logging.getLogger("concierge.suggest")
TOPIC = "suggest-events"
REFRESH_S = float(os.environ.get("SUGGEST_MODEL_REFRESH_S", "30"))
TIMEOUT_S = float(os.environ.get("SUGGEST_MODEL_TIMEOUT_MS", "50")) / 1000
_scoring = ThreadPoolExecutor(max_workers=4, thread_name_prefix="suggest-score")


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    ranker: object
    stats: object

    @property
    def served_by(self) -> str:
        return f"{self.name}@{self.version}"


def artifact_bytes(ranker, stats) -> bytes:
    """The artifact a suggest model travels as: the ranker and the feature statistics it must be served with."""
    def plain(v):
        return v.tolist() if isinstance(v, np.ndarray) else v
    return json.dumps({"ranker": {k: plain(v) for k, v in ranker.to_artifact().items()},
                       "stats": stats.to_dict()}).encode()


def load_artifact(data: bytes) -> tuple[object, object]:
    from shared.engine.suggest.features import FeatureStats
    from shared.engine.suggest.rankers import load_ranker

    doc = json.loads(data)
    return load_ranker(doc["ranker"]), FeatureStats.from_dict(doc["stats"])


class Models:
    """The process's production models by registry name, refreshed every REFRESH_S seconds."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[LoadedModel | None, str | None, float]] = {}
        self._lock = asyncio.Lock()

    async def get(self, db, name: str) -> tuple[LoadedModel | None, str | None]:
        hit = self._cache.get(name)
        if hit is not None and time.monotonic() - hit[2] < REFRESH_S:
            return hit[0], hit[1]
        async with self._lock:
            hit = self._cache.get(name)
            if hit is None or time.monotonic() - hit[2] >= REFRESH_S:
                model, reason = await self._load(db, name, hit[0] if hit else None)
                hit = (model, reason, time.monotonic())
                self._cache[name] = hit
        return hit[0], hit[1]

    async def _load(self, db, name: str, current: LoadedModel | None) -> tuple[LoadedModel | None, str | None]:
        from shared.engine.registry.artifacts import read_artifact_bytes
        from shared.engine.registry.store import get_production

        try:
            record = await get_production(db, name)
        except Exception as exc:  # noqa: BLE001 - the registry is down: keep serving what was loaded
            if current is not None:
                return current, None
            return None, f"registry unavailable ({type(exc).__name__}) and no {name} loaded yet"
        if record is None:
            return None, f"no production {name} in the registry"
        if current is not None and current.version == record.version:
            return current, None
        try:
            data = await asyncio.to_thread(read_artifact_bytes, record.artifact_path)
            ranker, stats = await asyncio.to_thread(load_artifact, data)
        except Exception as exc:  # noqa: BLE001 - a broken artifact must not take suggestions down
            log.warning("could not load %s: %s: %s", record.served_by, type(exc).__name__, exc)
            return None, f"{record.served_by} could not be loaded ({type(exc).__name__})"
        log.info("loaded %s", record.served_by)
        return LoadedModel(name, record.version, ranker, stats), None


MODELS = Models()


def _feature_context(req: SuggestRequest, n_items: int) -> dict:
    ctx = {k: v for k, v in req.context.user_features.model_dump().items() if v is not None}
    if req.context.user_item_affinity is not None:
        ctx["user_item_affinity"] = req.context.user_item_affinity
    else:
        ctx["user_item_affinity"] = [0.0] * n_items
    return ctx


def _score(ranker, stats, ctx: dict, candidates: list[int], n_positions: int) -> np.ndarray:
    """[n_candidates, n_positions] click probabilities, through the one feature definition."""
    from shared.engine.suggest.features import serving_features

    items = np.repeat(np.asarray(candidates), n_positions)
    positions = np.tile(np.arange(n_positions), len(candidates))
    X = serving_features(ctx, items, positions, stats)
    return ranker.predict_proba(X).reshape(len(candidates), n_positions)


def _greedy(scores: np.ndarray, limit: int, first_position: int) -> list[tuple[int, int, float]]:
    """(candidate index, slot, score) for slots first_position.. in turn, each the best remaining candidate at its
    position (slots past the model's last position are scored at the last one)."""
    taken = np.zeros(len(scores), dtype=bool)
    out = []
    for k in range(min(limit, len(scores))):
        slot = first_position + k
        col = scores[:, min(slot, scores.shape[1] - 1)].copy()
        col[taken] = -np.inf
        j = int(np.argmax(col))
        taken[j] = True
        out.append((j, slot, float(scores[j, min(slot, scores.shape[1] - 1)])))
    return out


def _rule_scores(catalogue, ctx, candidates, n_positions) -> np.ndarray:
    from shared.engine.suggest.rankers import RuleRanker

    return _score(RuleRanker.from_stats(catalogue.stats), catalogue.stats, ctx, candidates, n_positions)


def publish_impressions(events: list[dict], on_unpublished: Callable[[], None] = lambda: None) -> None:
    """Fire and forget: the response never waits for Pub/Sub; a failed publish is logged and reported to
    `on_unpublished` (the function layer counts it on /metrics; domains do not know the metrics)."""
    from shared.adapters.pubsub import publish_json

    def done(future, event_id: str) -> None:
        if future.exception() is not None:
            on_unpublished()
            log.warning("impression %s not published: %s", event_id, future.exception())

    for e in events:
        try:
            future = publish_json(TOPIC, e, event_id=e["event_id"], event_type="impression")
            future.add_done_callback(lambda f, eid=e["event_id"]: done(f, eid))
        except Exception as exc:  # noqa: BLE001
            on_unpublished()
            log.warning("impression %s not published: %s", e["event_id"], exc)


async def suggest(db, req: SuggestRequest, publish=publish_impressions) -> dict:
    """`db` is the Postgres pool (or a connection): it is only touched when the registry is due to be asked again,
    so an instance that has its model keeps serving it through a Postgres outage."""
    config = get_config()
    surface = config.surfaces.get(req.surface)
    if surface is None:
        raise InvalidRequest(f"unknown surface {req.surface!r}; one of {', '.join(sorted(config.surfaces))}",
                             "surface")
    if req.limit > surface.max_limit:
        raise InvalidRequest(f"surface {surface.name} shows at most {surface.max_limit} items", "limit")
    experiment = config.experiments[surface.experiment]
    arm = assign(experiment, req.user_id)
    catalogue = get_catalogue() if _catalogue_ready() else await asyncio.to_thread(get_catalogue)
    ctx = _feature_context(req, catalogue.n_items)
    candidates = catalogue.candidates(req.context.user_features.model_dump(), req.context.current_item)
    n_positions = min(surface.slots, catalogue.len_list)

    model, reason = await MODELS.get(db, arm.model)
    scores = None
    if model is not None:
        future = _scoring.submit(_score, model.ranker, model.stats, ctx, candidates, n_positions)
        try:
            scores = await asyncio.wait_for(asyncio.wrap_future(future), TIMEOUT_S)
        except (TimeoutError, FutureTimeout, asyncio.TimeoutError):
            reason = f"{model.served_by} timed out after {TIMEOUT_S * 1000:.0f} ms"
        except Exception as exc:  # noqa: BLE001 - a failing model is a labelled fallback, never a 500
            log.warning("%s failed: %s: %s", model.served_by, type(exc).__name__, exc)
            reason = f"{model.served_by} failed ({type(exc).__name__})"
    if scores is not None:
        served_by, version = model.served_by, model.version
    else:
        scores = _rule_scores(catalogue, ctx, candidates, n_positions)
        served_by, version = "rule", "rule-ctr-x-position"
    request_id = impressions.new_list_id()
    now = datetime.now(UTC).isoformat()
    items, events = [], []
    for j, slot, score in _greedy(scores, req.limit, req.context.position):
        item = candidates[j]
        imp = impressions.new_impression_id(arm.name, request_id)
        items.append({"item_id": str(item), "score": round(score, 6), "position": slot,
                      "category": str(catalogue.category[item]), "impression_id": imp})
        events.append({"event_id": f"impression:{imp}", "type": "impression", "impression_id": imp,
                       "request_id": request_id, "user_id": req.user_id, "item_id": str(item),
                       "surface": surface.name, "position": slot, "score": score, "served_by": served_by,
                       "model_version": version, "experiment": experiment.name, "arm": arm.name,
                       "propensity": 1.0, "timestamp": now,
                       "context": {**req.context.model_dump(mode="json", exclude={"user_item_affinity"}),
                                   "candidates": [str(c) for c in candidates]}})
    publish(events)
    return {"request_id": request_id, "user_id": req.user_id, "surface": surface.name, "items": items,
            "served_by": served_by, "model_version": version, "fallback_reason": reason if served_by == "rule" else None,
            "experiment": experiment.name, "arm": arm.name, "candidates": len(candidates)}


def _catalogue_ready() -> bool:
    from shared.domains.catalogues.suggest import catalogue

    return catalogue._catalogue is not None

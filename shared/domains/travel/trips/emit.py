"""Stage 7 of planning: what happens after the trip is stored, never blocking the response. The full candidate
set of every ranking goes to Pub/Sub (it is the training data), and cache pre-warming is enqueued on Cloud Tasks.

Shadow mode: for a warm traveller, when a model is in shadow, a share of trips (SHADOW_SHARE, by trip id) have
their candidate set scored by that model on a background thread before it is published. Its scores travel in
the set's context (`shadow`), aligned with the candidates, so the learning loop can compare it with what was
served on the same sets once the traveller's accepts are in. The traveller is never served the shadow's ranking
and never waits for it."""
from __future__ import annotations

import concurrent.futures as cf
import logging
import time
import uuid

from shared.domains.travel.trips.archetypes import ARCHETYPE_NAMES
from shared.domains.travel.trips.ranking import Ranking
from shared.engine.serving.cache import DAY_PARTS, KEY_VERSION, MAX_CACHED_DAY

log = logging.getLogger(__name__)
CANDIDATE_TOPIC = "candidate-sets"
PREWARM_QUEUE = "prewarm"
_background = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="trips-bg")


def publish_candidate_set(ranking: Ranking, user_id: str, trip_id: str, days: int, group_size: int,
                          shadow=None, decisions: list[dict] | None = None) -> None:
    """`decisions`: how each of this traveller's stops was chosen (itinerary.decide: options, propensities, the
    chosen venue, with the stop's day and day part): the logging policy's record for counterfactual evaluation."""
    payload = {
        "event_id": f"cs_{uuid.uuid4().hex}", "user_id": user_id, "trip_id": trip_id,
        "signal_type": "candidate_set_logged", "activity_node_id": None,
        "context": {
            "candidates": [{"id": i, "score": round(float(s), 6)} for i, s, _ in ranking.items],
            "ranker": ranking.ranker, "served_by": ranking.served_by, "archetype": ranking.archetype,
            "cache_hit": ranking.cache_hit, "day_part": None, "day_of_trip": None, "days": days,
            "group_size": group_size, "city_id": ranking.city, "fallback_reason": ranking.fallback_reason,
            "arbitration": ranking.arbitration, "decisions": decisions or [],
        },
        "model_version": ranking.model_version,
    }
    if shadow is not None and in_shadow_sample(trip_id):
        tags = {i: ranking.venues[i].tags for i, _s, _c in ranking.items if i in ranking.venues}
        _background.submit(_score_in_shadow_and_publish, shadow, payload, tags)
        return
    _publish(payload)


def in_shadow_sample(trip_id: str) -> bool:
    from shared.engine.serving.shadow import in_sample
    from shared.settings import get_settings

    return in_sample(trip_id, get_settings().shadow_share)


def _score_in_shadow_and_publish(shadow, payload: dict, item_tags: dict) -> None:
    from shared.engine.serving.shadow import shadow_scores

    ids = [c["id"] for c in payload["context"]["candidates"]]
    scored = shadow_scores(shadow, payload["user_id"], ids, {"item_tags": item_tags})
    if scored is not None:
        payload["context"]["shadow"] = scored
    _publish(payload)


def _publish(payload: dict) -> None:
    trip_id = payload["trip_id"]
    try:
        from shared.adapters.pubsub import publish_json

        future = publish_json(CANDIDATE_TOPIC, payload)
        future.add_done_callback(_log_publish_failure)
    except Exception:
        log.exception("could not publish the candidate set of trip %s", trip_id)


def _log_publish_failure(future) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("candidate-set publish failed: %s", exc)


def prewarm_task_id(city: str, archetype: str, part: str, day: int, bucket: int) -> str:
    """Deterministic: the same combination in the same hour is the same task, so re-enqueueing is harmless."""
    return f"prewarm-{KEY_VERSION}-{city}-{archetype}-{part}-d{day}-{bucket}"


def prewarm_payloads(city: str) -> list[tuple[str, dict]]:
    bucket = int(time.time() // 3600)
    return [(prewarm_task_id(city, a, p, d, bucket), {"city": city, "archetype": a, "day_part": p, "day_of_trip": d})
            for a in ARCHETYPE_NAMES for p in DAY_PARTS for d in range(1, MAX_CACHED_DAY + 1)]


async def schedule_prewarm(redis, city: str) -> None:
    """Enqueue the 45 combinations on the prewarm queue from a background thread. A Redis marker keeps
    it to once per city per hour per process fleet; the deterministic task ids make a repeat harmless anyway."""
    bucket = int(time.time() // 3600)
    try:
        if not await redis.set(f"prewarm:enqueued:{KEY_VERSION}:{city}:{bucket}", "1", nx=True, ex=3600):
            return
    except Exception:
        log.warning("redis unavailable for the prewarm marker", exc_info=True)
    _background.submit(_enqueue_all, city)


def _enqueue_all(city: str) -> int:
    from shared.adapters.tasks import enqueue_http
    from shared.settings import get_settings

    try:
        url = get_settings().function_url("prewarm")
    except LookupError:
        log.warning("no prewarm function URL configured; skipping cache pre-warm")
        return 0
    n = 0
    for task_id, payload in prewarm_payloads(city):
        try:
            enqueue_http(PREWARM_QUEUE, url, payload, task_id=task_id)
            n += 1
        except Exception:
            log.exception("could not enqueue prewarm task %s", task_id)
    return n

"""Shadow scoring: a model in `shadow` status scores the candidates a live request was served from, off the
response path, so that it can be judged on real traffic before it serves anyone.

Rules:
- the caller decides when (never on the response path: a background thread after the response's data is
  final) and which requests (`in_sample`: a stable share by request id, so a retried request is sampled alike);
- the shadow's output never reaches the user: it is logged next to the served ranking, aligned with the same
  candidates, and compared offline (shared.engine.registry.shadow_gate) once the user's outcomes are known;
- a failing shadow model costs nothing: no scores are logged, the served ranking is logged as always.
"""
from __future__ import annotations

import hashlib
import logging
import math

import numpy as np

log = logging.getLogger(__name__)


def in_sample(request_id: str, share: float) -> bool:
    if share <= 0:
        return False
    h = int.from_bytes(hashlib.blake2b(f"shadow|{request_id}".encode(), digest_size=4).digest(), "big") / 2**32
    return h < share


def shadow_scores(ranker, user_id: str, candidate_ids: list[str], context: dict | None = None) -> dict | None:
    """{"model_version", "scores"} with one finite score per candidate (unknown items get the lowest score less
    one, as the serving adapter ranks them), or None when the model failed or knows none of the candidates."""
    try:
        raw = np.asarray(ranker.model.score(user_id, candidate_ids, context or {}), dtype=np.float64)
    except Exception:
        log.warning("shadow model %s failed; the candidate set is logged without it", ranker.version, exc_info=True)
        return None
    if raw.shape != (len(candidate_ids),):
        log.warning("shadow model %s returned %s scores for %d candidates", ranker.version, raw.shape,
                    len(candidate_ids))
        return None
    from shared.engine.serving.ml import UNKNOWN_FLOOR

    known = np.isfinite(raw) & (raw > UNKNOWN_FLOOR)
    if not known.any():
        return None
    floor = raw[known].min() - 1.0
    scores = np.where(known, raw, floor)
    return {"model_version": ranker.version, "scores": [round(float(s), 6) if math.isfinite(s) else float(floor)
                                                        for s in scores],
            "known": int(known.sum())}

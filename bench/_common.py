"""Helpers every benchmark shares: results go to bench/results/<name>.json with machine facts."""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
sys.path.insert(0, str(REPO_ROOT))


def lift_rate_limits() -> None:
    """Benchmarks measure planning, not the per-user limits: a stack started after this (its functions inherit
    the environment) lets a few benchmark users send thousands of requests."""
    from shared.settings import DEFAULT_RATE_LIMITS

    os.environ.update({f"RATE_LIMIT_{name.upper()}": "100000/1" for name in DEFAULT_RATE_LIMITS})


def forget_running_stack() -> None:
    """A benchmark that writes (and deletes) data starts a stack of its own: the stores of a stack the shell
    points at (DATABASE_URL, REDIS_URL, QDRANT_URL exported by `emulators.cli env`) are never reused."""
    from emulators.stack import EXTERNAL_SETTINGS

    for key in EXTERNAL_SETTINGS:
        os.environ.pop(key, None)


def machine() -> dict:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}


def summarise(samples: list[float]) -> dict:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"median": statistics.median(ordered), "p95": p95, "min": ordered[0], "max": ordered[-1], "n": len(ordered)}


def write_result(name: str, payload: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {"benchmark": name, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "machine": machine(), **payload}
    path.write_text(json.dumps(payload, indent=2))
    print(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return path


def flush_city_cache(redis, city: str) -> None:
    """Empty a city's ranked-result and plan caches, so the next trip request ranks and assembles itself."""
    for pattern in (f"rank:*:{city}:*", f"plan:*:{city}:*"):
        for key in redis.scan_iter(match=pattern):
            redis.delete(key)


def hold_city_prewarm(redis, city: str) -> None:
    """Set this hour's and the next hour's pre-warm markers, so no pre-warm refills the cache mid-benchmark."""
    from shared.engine.serving.cache import KEY_VERSION

    bucket = int(time.time() // 3600)
    for b in (bucket, bucket + 1):
        redis.set(f"prewarm:enqueued:{KEY_VERSION}:{city}:{b}", "held-by-bench", ex=7200)


def release_city_prewarm(redis, city: str) -> None:
    keys = list(redis.scan_iter(match=f"prewarm:enqueued:*:{city}:*"))
    if keys:
        redis.delete(*keys)

"""Dependency health: each managed service probed through its production adapter, in parallel,
each with a short timeout so one hung dependency cannot hide the state of the others."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from collections.abc import Callable

PROBE_TIMEOUT_S = 4.0


def _probes() -> dict[str, Callable[[], None]]:
    from shared.adapters import aio, postgres, pubsub, qdrant, redis_cache, storage, tasks

    return {
        "postgres": lambda: aio.run_sync(postgres.ping(), timeout=PROBE_TIMEOUT_S),
        "redis": redis_cache.ping,
        "qdrant": qdrant.ping,
        "pubsub": pubsub.ping,
        "tasks": tasks.ping,
        "gcs": storage.ping,
    }


def check_all() -> dict[str, dict[str, object]]:
    probes = _probes()
    results: dict[str, dict[str, object]] = {}
    pool = ThreadPoolExecutor(max_workers=len(probes))
    deadline = time.monotonic() + PROBE_TIMEOUT_S + 1
    try:
        started = {name: pool.submit(_timed, fn) for name, fn in probes.items()}
        for name, future in started.items():
            try:
                elapsed = future.result(timeout=max(0.0, deadline - time.monotonic()))
                results[name] = {"status": "up", "latency_ms": round(elapsed * 1000, 1)}
            except FutureTimeout:
                results[name] = {"status": "down", "error": f"no answer within {PROBE_TIMEOUT_S:.0f}s"}
            except Exception as exc:
                results[name] = {"status": "down", "error": f"{exc.__class__.__name__}: {str(exc)[:200]}"}
    finally:
        pool.shutdown(wait=False)  # a hung probe must not hold the answer (its thread ends on its own timeout)
    return results


def _timed(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0

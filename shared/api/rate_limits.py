"""The function layer's per-user rate limits: one call at the top of a costly route, a 429 with Retry-After
once the caller's bucket is empty (the buckets are shared.engine.quotas; their sizes are settings.rate_limits,
RATE_LIMIT_<NAME>=BURST/SECONDS)."""
from __future__ import annotations

import logging
from functools import lru_cache

from shared.api.errors import too_many_requests
from shared.engine.quotas import Limit, take

log = logging.getLogger("concierge.api")

WHAT = {"trips": "trip plans", "pivots": "swaps and pivots", "streams": "live pivot streams"}


@lru_cache(maxsize=16)
def _limit(name: str, spec: str) -> Limit:
    return Limit.parse(name, spec)


def enforce(name: str, user_id: str) -> None:
    from shared.adapters.redis_cache import get_redis
    from shared.settings import get_settings

    limit = _limit(name, get_settings().rate_limits[name])
    decision = take(get_redis(), limit, user_id)
    if not decision.allowed:
        raise too_many_requests(
            f"too many {WHAT.get(name, name)}: at most {limit.burst} per {limit.per_s:g} s for one user; "
            f"retry in {decision.retry_after_s} s", decision.retry_after_s)

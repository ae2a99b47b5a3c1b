"""Per-user rate limits: a token bucket per (limit, user) in Redis, so every instance of a function shares it.

A bucket holds at most `burst` tokens and refills at `burst / per_s` tokens a second; each request takes one.
The refill and the take are one Lua script, so concurrent requests on many instances cannot both take the
last token. Redis's own clock (TIME) is used, never the callers', so instances with skewed clocks agree.

When Redis cannot be reached the limit is not enforced (the decision says so): a cache outage must not take
trip planning down with it, and the daily LLM and Places shares (enforced in Postgres) still bound the cost.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

log = logging.getLogger("concierge.quotas")

# KEYS[1] bucket; ARGV: burst, refill tokens per second. Returns {allowed (0/1), seconds until a token}.
_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or t
tokens = math.min(burst, tokens + math.max(0, t - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', t)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
local wait = 0
if allowed == 0 then wait = (1 - tokens) / rate end
return {allowed, tostring(wait)}
"""


@dataclass(frozen=True)
class Limit:
    """`burst` requests at once, refilled over `per_s` seconds (e.g. 6 per 60 s: one every 10 s after a burst)."""
    name: str
    burst: int
    per_s: float

    @property
    def rate(self) -> float:
        return self.burst / self.per_s

    @classmethod
    def parse(cls, name: str, spec: str) -> "Limit":
        """'6/60' → 6 requests per 60 seconds."""
        try:
            burst, per = spec.split("/")
            limit = cls(name, int(burst), float(per))
        except ValueError:
            raise ValueError(f"rate limit {name!r} must look like BURST/SECONDS (e.g. 6/60), got {spec!r}") from None
        if limit.burst < 1 or not limit.per_s > 0 or not math.isfinite(limit.per_s):
            raise ValueError(f"rate limit {name!r} needs BURST >= 1 and SECONDS > 0, got {spec!r}")
        return limit


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int       # whole seconds until the next token (0 when allowed)
    enforced: bool = True    # False when Redis could not be asked


def take(redis_client, limit: Limit, user_id: str) -> Decision:
    """Take one token from the user's bucket for this limit."""
    try:
        allowed, wait = redis_client.eval(_TAKE, 1, f"ratelimit:{limit.name}:{user_id}", limit.burst, limit.rate)
    except Exception:
        log.warning("rate limit %s not enforced: redis unavailable", limit.name, exc_info=True)
        return Decision(True, 0, enforced=False)
    if int(allowed):
        return Decision(True, 0)
    return Decision(False, max(1, math.ceil(float(wait))))

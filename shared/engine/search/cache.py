"""The search result cache in Redis, with hit/miss/set accounting that cannot drift from what was served.

Key: (corpus, index version, normalised query, k, mode). The index version is in the key so a promoted index
never serves the previous index's results, and nothing has to be deleted on promotion (old entries expire).

Why Lua: a lookup and its counter update must be one step. With GET followed by HINCRBY in two round trips, a
crash or a timeout between them loses a count, and a retried request counts twice; a Lua script runs atomically
on the Redis server (no other command interleaves), so each lookup adds exactly 1 to `lookups` and exactly 1 to
`hits` or `misses`, in the same step that decides which. The counters of every corpus live in ONE hash, so
HGETALL reads a snapshot of all of them at one instant and the consistency check (hits + misses = lookups)
compares numbers from the same moment. The lookup script also counts the query in the corpus' frequency sorted
set of the day (what warm-up replays), in the same step.

Frequencies are kept per UTC day (`search:freq:<corpus>:<yyyymmdd>`, expiring after FREQ_DAYS days) so "the most
frequent recent queries" is the union of the last FREQ_DAYS days, and old favourites age out.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
import unicodedata
from dataclasses import dataclass

STATS_KEY = "search:cache:stats"
ENTRY_PREFIX = "search:cache:v1"
FREQ_PREFIX = "search:freq"
DEFAULT_TTL_S = 24 * 3600
FREQ_DAYS = 7
COUNTERS = ("lookups", "hits", "misses", "sets", "warm_sets")
_SPACE = re.compile(r"\s+")

# KEYS[1] entry, KEYS[2] stats hash, KEYS[3] today's frequency zset; ARGV[1] corpus, ARGV[2] normalised query,
# ARGV[3] "1" to count the query's frequency, ARGV[4] frequency key TTL (s)
_LOOKUP = """
local value = redis.call('GET', KEYS[1])
redis.call('HINCRBY', KEYS[2], ARGV[1] .. ':lookups', 1)
if value then
  redis.call('HINCRBY', KEYS[2], ARGV[1] .. ':hits', 1)
else
  redis.call('HINCRBY', KEYS[2], ARGV[1] .. ':misses', 1)
end
if ARGV[3] == '1' then
  redis.call('ZINCRBY', KEYS[3], 1, ARGV[2])
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[4]))
end
return value
"""
# KEYS[1] entry, KEYS[2] stats hash; ARGV[1] value, ARGV[2] ttl, ARGV[3] corpus, ARGV[4] counter (sets|warm_sets)
_STORE = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
redis.call('HINCRBY', KEYS[2], ARGV[3] .. ':' .. ARGV[4], 1)
return 1
"""


def normalise_query(q: str) -> str:
    """NFKC, case-folded, whitespace collapsed: 'Quiet  Ramen' and 'quiet ramen' are one cache entry and one
    frequency count. Punctuation is kept (it can change what BM25 matches)."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", q).casefold()).strip()


def entry_key(corpus: str, index_version: str, normalised: str, k: int, mode: str) -> str:
    digest = hashlib.sha256(normalised.encode()).hexdigest()[:32]
    return f"{ENTRY_PREFIX}:{corpus}:{index_version}:{mode}:{k}:{digest}"


def freq_member(normalised: str, k: int, mode: str) -> str:
    return f"{mode}\t{k}\t{normalised}"


def freq_key(corpus: str, day: str | None = None) -> str:
    return f"{FREQ_PREFIX}:{corpus}:{day or time.strftime('%Y%m%d', time.gmtime())}"


def recent_freq_keys(corpus: str, days: int = FREQ_DAYS, now: float | None = None) -> list[str]:
    now = time.time() if now is None else now
    return [freq_key(corpus, time.strftime("%Y%m%d", time.gmtime(now - 86400 * d))) for d in range(days)]


@dataclass(frozen=True)
class Lookup:
    hit: bool
    value: dict | None
    key: str


class SearchCache:
    """Atomic lookup/store on a synchronous redis-py client (thread-safe pool; a search request is CPU work in
    the request thread, so a blocking client is the cheapest path)."""

    def __init__(self, client, ttl_s: int = DEFAULT_TTL_S) -> None:
        self.client, self.ttl_s = client, ttl_s
        self._lookup = client.register_script(_LOOKUP)
        self._store = client.register_script(_STORE)

    def lookup(self, corpus: str, index_version: str, normalised: str, k: int, mode: str,
               *, count_frequency: bool = True) -> Lookup:
        key = entry_key(corpus, index_version, normalised, k, mode)
        raw = self._lookup(keys=[key, STATS_KEY, freq_key(corpus)],
                           args=[corpus, freq_member(normalised, k, mode), "1" if count_frequency else "0",
                                 86400 * (FREQ_DAYS + 1)])
        return Lookup(raw is not None, json.loads(raw) if raw is not None else None, key)

    def store(self, key: str, corpus: str, value: dict, *, warm: bool = False) -> None:
        self._store(keys=[key, STATS_KEY], args=[json.dumps(value), self.ttl_s, corpus,
                                                 "warm_sets" if warm else "sets"])

    def contains(self, corpus: str, index_version: str, normalised: str, k: int, mode: str) -> bool:
        """Presence without counting (warm-up asks this; it is not a user's lookup)."""
        return bool(self.client.exists(entry_key(corpus, index_version, normalised, k, mode)))

    def top_queries(self, corpus: str, limit: int) -> list[tuple[str, int, str, int]]:
        """The most frequent (normalised query, k, mode) of the last FREQ_DAYS days as (query, k, mode, count),
        most frequent first (ties by query): exactly the cache keys users asked for, so replaying them warms
        the entries the next users will look up."""
        rows = self.client.zunion(recent_freq_keys(corpus), withscores=True)
        out = []
        for member, score in rows:
            mode, k, query = (member.decode() if isinstance(member, bytes) else member).split("\t", 2)
            out.append((query, int(k), mode, int(score)))
        return sorted(out, key=lambda r: (-r[3], r[0], r[1], r[2]))[:limit]

    def stats(self) -> dict:
        return stats_from_hash(self.client.hgetall(STATS_KEY))


def stats_from_hash(raw: dict) -> dict:
    """{corpora: {corpus: counters}, total: counters, consistent, inconsistent: [corpora]} from one HGETALL."""
    corpora: dict[str, dict[str, int]] = {}
    for field, value in raw.items():
        field = field.decode() if isinstance(field, bytes) else field
        corpus, _, counter = field.rpartition(":")
        if counter in COUNTERS:
            corpora.setdefault(corpus, dict.fromkeys(COUNTERS, 0))[counter] = int(value)
    total = {c: sum(v[c] for v in corpora.values()) for c in COUNTERS}
    bad = sorted(c for c, v in corpora.items() if v["hits"] + v["misses"] != v["lookups"])
    return {"corpora": dict(sorted(corpora.items())), "total": total, "consistent": not bad,
            "inconsistent": bad, "check": "hits + misses == lookups, per corpus, from one HGETALL snapshot"}

"""Request and response models of the search API (closed, so openapi.yaml's generated contract is exact)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_CLOSED = ConfigDict(extra="forbid")
MAX_K = 100
MAX_QUERY_CHARS = 512
CORPUS_PATTERN = r"^(scifact|venues:[a-z0-9-]{1,80})$"


class SearchParams(BaseModel):
    """GET /v1/search's query string (every value arrives as text; pydantic converts k)."""
    model_config = _CLOSED

    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="the query text")
    k: int = Field(10, ge=1, le=MAX_K, description="how many results (1-100)")
    corpus: str = Field("scifact", pattern=CORPUS_PATTERN, description="scifact, or venues:<city id>")
    mode: Literal["dense", "hybrid"] = Field("dense", description="dense (HNSW) or hybrid (BM25 + dense, RRF)")

    @field_validator("q")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must contain a non-space character")
        return value


class VenueSearchParams(BaseModel):
    """GET /v1/cities/{city}/venues:search's query string."""
    model_config = _CLOSED

    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    k: int = Field(10, ge=1, le=MAX_K)
    mode: Literal["dense", "hybrid"] = "dense"

    _not_blank = field_validator("q")(SearchParams._not_blank.__func__)


class SearchHit(BaseModel):
    model_config = _CLOSED

    id: str
    title: str
    snippet: str
    score: float   # cosine (dense), fused RRF score (hybrid) or BM25 (fallback): see score_kind
    rank: int


class SearchCache(BaseModel):
    model_config = _CLOSED

    hit: bool      # true only when these results were read from the Redis cache


class SearchResults(BaseModel):
    """GET /v1/search and GET /v1/cities/{city}/venues:search."""
    model_config = _CLOSED

    query: str
    normalised_query: str
    corpus: str
    k: int
    mode: Literal["dense", "hybrid"]
    results: list[SearchHit]
    served_by: Literal["dense", "hybrid", "bm25-fallback"]
    fallback_reason: str | None    # why the dense index did not serve (None when it did)
    score_kind: Literal["cosine", "rrf", "bm25"]
    model_version: str | None      # the query encoder's version (None: BM25 answered without one)
    index_version: str | None      # the index version (None: no index was loaded)
    revision: str                  # the backend revision that served it (stable or candidate during a canary)
    cache: SearchCache


class CacheCounters(BaseModel):
    model_config = _CLOSED

    lookups: int
    hits: int
    misses: int
    sets: int
    warm_sets: int


class WarmupReport(BaseModel):
    model_config = _CLOSED

    corpus: str
    index_version: str
    source: Literal["frequencies", "declared"]
    candidates: int          # queries considered
    warmed: int              # entries written by this warm-up
    already_cached: int      # entries that were there already
    failed: int
    skipped: int = 0         # recorded lookups no index answers (a lexical fallback's): nothing to warm
    seconds: float
    finished_at: str


class CacheStats(BaseModel):
    """GET /v1/search/cache-stats."""
    model_config = _CLOSED

    corpora: dict[str, CacheCounters]
    total: CacheCounters
    consistent: bool              # hits + misses == lookups for every corpus, in one snapshot
    inconsistent: list[str]
    check: str
    warmups: dict[str, WarmupReport]   # the last warm-up of each corpus


class WarmupTask(BaseModel):
    """The Cloud Tasks body of the search-warmup queue."""
    model_config = _CLOSED

    corpus: str = Field(pattern=CORPUS_PATTERN)
    index_version: str = Field(min_length=1, max_length=120)
    limit: int = Field(200, ge=1, le=5000)
    queries: list[str] | None = Field(None, max_length=5000,
                                      description="a declared list to replay instead of the recorded frequencies")
    k: int = Field(10, ge=1, le=MAX_K)
    mode: Literal["dense", "hybrid"] = "dense"

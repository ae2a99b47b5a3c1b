"""POST /v1/admin/seed-city and GET /v1/admin/seed-city/{run_id} (functions/admin), as models for the OpenAPI
document. The admin function validates its body by hand (its 400s name each field with its own wording);
SeedCityRequest describes the same rules, and tests/unit/foundation/test_openapi_schemas.py holds the two
together (the taggers and the limit bound are compared with the function's own constants)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TAGGERS = ("auto", "offline", "anthropic", "student")
MAX_LIMIT = 100_000


class SeedCityRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    city: str = Field(min_length=1, max_length=100, description="a city name or id such as \"seattle\"")
    sources: list[str] | str | None = Field(None, description="source names, or one comma-separated string")
    limit: int | None = Field(None, ge=1, le=MAX_LIMIT, description="at most this many venues")
    tagger: Literal[TAGGERS] = "auto"  # type: ignore[valid-type]


class SeedRunQueued(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str
    status: Literal["queued"]
    city_id: str
    status_url: str


class SeedRunView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str
    city_id: str
    sources: list[str]
    limit: int | None = None
    status: str = Field(description="queued | running | succeeded | failed")
    progress: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None
    created_at: str = Field(description="timestamp, e.g. '2031-06-01 12:00:00.123456+00:00'")
    started_at: str | None = None
    finished_at: str | None = None

"""What GET /v1/health and GET /v1/health/live answer (functions/health), as models for the OpenAPI document."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DependencyState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["up", "down"]
    latency_ms: float | None = None
    error: str | None = None


class HealthView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["up", "down"]
    dependencies: dict[str, DependencyState]
    checked_at: str = Field(description="when the dependencies were probed (ISO 8601, seconds)")
    failing: list[str] | None = Field(None, description="the dependencies that are down (only when some are)")
    cached: bool = Field(description="true when this all-up answer was shared from a check made in the last seconds")


class LiveView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["alive"]

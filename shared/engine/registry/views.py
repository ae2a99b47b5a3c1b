"""The admin model routes' bodies (functions/admin: /v1/admin/models...), as models for the OpenAPI document.
The admin function renders a registry record with _model_view and validates its small bodies by hand;
tests/unit/foundation/test_openapi_schemas.py checks a rendered record against ModelView."""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="name@version, as X-Model-Version names it")
    name: str
    version: str
    status: str = Field(description="candidate | shadow | production | retired | ...")
    artifact_path: str
    created_at: str = Field(description="timestamp, e.g. '2031-06-01 12:00:00.123456+00:00'")
    promoted_at: str | None = None
    training: dict[str, Any] | None = None
    latest_evaluation: dict[str, Any] | None = None
    promotion: dict[str, Any] | None = None
    rollback: dict[str, Any] | None = None
    rolled_back: dict[str, Any] | None = None


class ModelList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: list[ModelView]


class RollbackView(BaseModel):
    model_config = ConfigDict(extra="forbid")
    restored: ModelView
    retired: ModelView


class ReasonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500, description="why; kept with the registry record")


class LearnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    through: dt.date | None = Field(None, description="the last day of data (default: yesterday)")
    days: int | None = Field(None, ge=1, le=365, description="how many days of data")


class LearnQueued(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["queued"]
    task: str = Field(description="the Cloud Tasks task name")
    args: list[str] = Field(description="the arguments the learn job will run with")

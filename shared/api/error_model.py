"""The error body every 4xx (and the mapped 503s) carries, as a pydantic model for the OpenAPI document.

It describes what shared.api.errors.ApiError.body() writes (and the local gateway's own errors, which use the same
shape with code "gateway"); tests/unit/foundation/test_openapi_schemas.py checks real error bodies against it, so
the documented shape cannot drift from the one answered. Google API Gateway's own rejections in the cloud (a
missing or invalid JWT or API key, an exhausted quota) carry the gateway's body instead, {"code", "message"}.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="machine-readable: invalid_argument, not_found, unauthenticated, ...")
    message: str = Field(description="what is wrong and how to fix it")
    field: str | None = Field(None, description="the request field, header or path id at fault (e.g. 'days[0].name')")
    details: list[Any] = Field(default_factory=list, description="per-field errors, or per-item results of a batch")


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error: ErrorInfo

"""Request and response models of POST /v1/suggest and POST /v1/events (also the OpenAPI document's schemas).

Strict (extra fields refused): a misspelt context key is a 400 naming it, never silently ignored. The surface and
limit bounds that depend on the declared surface are checked in the domain (serve.suggest), naming the field too.
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_LIMIT = 50        # no surface may declare more; 1000 is refused by the schema itself
MAX_EVENTS = 500
N_ITEMS = 80          # the Open Bandit sample's catalogue (catalogue.py); the affinity vector has one value each
Device = Literal["mobile", "desktop", "tablet", "app"]
EventType = Literal["impression", "click", "conversion"]
TEXT = dict(min_length=1, max_length=128)


class UserFeatures(BaseModel):
    """The user's segment features as the feature store keeps them (hashed strings, the Open Bandit fields)."""
    model_config = ConfigDict(extra="forbid")
    user_feature_0: str | None = Field(None, max_length=64)
    user_feature_1: str | None = Field(None, max_length=64)
    user_feature_2: str | None = Field(None, max_length=64)
    user_feature_3: str | None = Field(None, max_length=64)


class SuggestContext(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: Device
    current_action: Literal["browse", "view_item", "search", "add_to_cart", "checkout"]
    timestamp: datetime
    session_length: int = Field(ge=0, le=86_400, description="seconds since the session started")
    position: int = Field(0, ge=0, le=MAX_LIMIT, description="the first slot this list fills (slot k = position + k)")
    current_item: int | None = Field(None, ge=0, lt=N_ITEMS, description="the item on screen, if any")
    user_features: UserFeatures = Field(default_factory=UserFeatures)
    user_item_affinity: list[float] | None = Field(None, description=f"{N_ITEMS} affinities, one per item")

    @field_validator("user_item_affinity")
    @classmethod
    def _affinity(cls, v):
        if v is not None and len(v) != N_ITEMS:
            raise ValueError(f"needs {N_ITEMS} values (one per item), got {len(v)}")
        return v


class SuggestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(**TEXT)
    surface: str = Field(**TEXT)
    limit: int = Field(3, ge=1, le=MAX_LIMIT)
    context: SuggestContext


class Suggestion(BaseModel):
    item_id: str
    score: float
    position: int
    category: str
    impression_id: str


class SuggestView(BaseModel):
    request_id: str
    user_id: str
    surface: str
    items: list[Suggestion]
    served_by: str = Field(description="'<registry model>@<version>', or 'rule' when the fallback served")
    model_version: str
    fallback_reason: str | None = None
    experiment: str
    arm: str
    candidates: int


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: EventType
    impression_id: str = Field(min_length=1, max_length=128)
    timestamp: datetime | None = None
    value: float | None = Field(None, ge=0, description="a conversion's value")


class EventsIn(BaseModel):
    """One event, or {"events": [...]} with 1..500 of them."""
    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS)

    @model_validator(mode="before")
    @classmethod
    def _single(cls, data):
        if isinstance(data, dict) and "events" not in data:
            return {"events": [data]}
        return data


class EventsAccepted(BaseModel):
    accepted: int
    event_ids: list[str]

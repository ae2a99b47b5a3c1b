"""The recommendation API's request bodies. Validation errors become 400s naming the field (shared.api).

Strict types on purpose: `k: "10"` or `exclude_seen: 1` are refused rather than coerced, so a client bug shows
up as a 400 naming the field instead of as a result that silently differs from what was meant.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator

MAX_K = 100
MAX_BATCH_USERS = 100
MAX_LIKED = 50
EventType = Literal["view", "click", "like", "rate", "cook", "watch", "purchase", "interaction"]

_ID = Field(min_length=1, max_length=128)


def _number(v: Any) -> Any:
    """Before pydantic's coercion, which would take true as 1 and "0.5" as 0.5."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError("must be a number")
    return v


class Filters(BaseModel):
    """Which items may be recommended: any of `categories` (when given), never `exclude_item_ids`."""
    model_config = ConfigDict(extra="forbid")

    categories: list[str] | None = Field(default=None, max_length=50)
    exclude_item_ids: list[str] | None = Field(default=None, max_length=1000)

    def key(self) -> str:
        """Canonical text of the filter, for cache keys (order and duplicates do not matter)."""
        return "|".join(["c:" + ",".join(sorted(set(self.categories or []))),
                         "x:" + ",".join(sorted(set(self.exclude_item_ids or [])))])


class _Ranked(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: StrictInt = Field(default=10, ge=1, le=MAX_K)
    exclude_seen: StrictBool = True
    # the MMR trade-off: 0 ranks by relevance alone (λ = 1); 0.3 gives 30% weight to being unlike the items
    # already chosen (λ = 0.7), measured on the items' text embeddings
    diversity: float = Field(default=0.0, ge=0.0, le=1.0)
    filters: Filters = Field(default_factory=Filters)

    _diversity_is_a_number = field_validator("diversity", mode="before")(_number)


class RecommendRequest(_Ranked):
    user_id: str = _ID


class BatchRecommendRequest(_Ranked):
    user_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH_USERS)


class SimilarItemsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str = _ID
    k: StrictInt = Field(default=10, ge=1, le=MAX_K)


class SimilarUsersRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = _ID
    k: StrictInt = Field(default=10, ge=1, le=MAX_K)


class ColdStartRequest(BaseModel):
    """A user with no history: items they said they like, words for their tastes, or both."""
    model_config = ConfigDict(extra="forbid")

    liked_item_ids: list[str] = Field(default_factory=list, max_length=MAX_LIKED)
    tastes: str | None = Field(default=None, min_length=1, max_length=500)
    k: StrictInt = Field(default=10, ge=1, le=MAX_K)
    diversity: float = Field(default=0.0, ge=0.0, le=1.0)
    filters: Filters = Field(default_factory=Filters)

    _diversity_is_a_number = field_validator("diversity", mode="before")(_number)

    @model_validator(mode="after")
    def _something_to_go_on(self):
        if not self.liked_item_ids and not self.tastes:
            raise ValueError("give liked_item_ids, tastes or both")
        return self


class InteractionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str | None = Field(default=None, min_length=8, max_length=128)
    user_id: str = _ID
    item_id: str = _ID
    event_type: EventType = "interaction"
    weight: float = Field(default=1.0, gt=0, le=100)
    timestamp: str | None = Field(default=None, max_length=40)  # ISO-8601; default: when it was received

    _weight_is_a_number = field_validator("weight", mode="before")(_number)


class InteractionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[InteractionIn] = Field(min_length=1, max_length=500)

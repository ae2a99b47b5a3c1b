"""One view model per response of the recommendations API (closed: the contract in openapi.yaml is generated from
these, and a field the code adds without declaring it fails the contract test)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

_CLOSED = ConfigDict(extra="forbid")
ServedBy = Literal["two_tower", "als", "popularity", "text", "two_tower+text"]


class RecommendedItem(BaseModel):
    model_config = _CLOSED

    item_id: str
    title: str
    categories: list[str]
    score: float  # the serving model's score: comparable within one response, not across responses


class CacheInfo(BaseModel):
    model_config = _CLOSED

    hit: bool                                     # true only when this list came from a cache
    layer: Literal["process", "redis"] | None     # which one


class Recommendations(BaseModel):
    """POST /v1/catalogues/{catalogue}/recommendations (and each entry of :batch)."""
    model_config = _CLOSED

    catalogue: str
    user_id: str
    items: list[RecommendedItem]
    served_by: ServedBy
    model_version: str
    fallback_reason: str | None   # why the models before served_by in the chain did not serve (None: the first did)
    diversity: float
    cache: CacheInfo


class BatchRecommendations(BaseModel):
    model_config = _CLOSED

    catalogue: str
    results: list[Recommendations]


class SimilarItems(BaseModel):
    model_config = _CLOSED

    catalogue: str
    item_id: str
    items: list[RecommendedItem]
    served_by: ServedBy
    model_version: str
    fallback_reason: str | None


class SimilarUser(BaseModel):
    model_config = _CLOSED

    user_id: str
    score: float


class SimilarUsers(BaseModel):
    model_config = _CLOSED

    catalogue: str
    user_id: str
    users: list[SimilarUser]
    served_by: ServedBy
    model_version: str
    fallback_reason: str | None


class ColdStart(BaseModel):
    model_config = _CLOSED

    catalogue: str
    items: list[RecommendedItem]
    served_by: ServedBy
    model_version: str
    fallback_reason: str | None
    diversity: float


class InteractionsAccepted(BaseModel):
    model_config = _CLOSED

    accepted: int
    event_ids: list[str]

"""The bodies of POST /v1/signals beyond SignalIn itself, as models for the OpenAPI document: the batch form of
the request and the three response shapes functions/signals builds (one accepted signal, a batch's per-item
results). SignalIn stays the one validation gate; these only describe the envelope around it."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from shared.engine.events.schema import MAX_BATCH, SignalIn


class SignalBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signals: list[SignalIn] = Field(min_length=1, max_length=MAX_BATCH,
                                    description=f"1..{MAX_BATCH} signals, each validated on its own")


class SignalsRequest(RootModel[SignalIn | SignalBatch]):
    """One signal, or {"signals": [...]}."""


class SignalAccepted(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str
    status: Literal["accepted"]
    weight: float


class ItemError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    field: str


class ItemResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int
    status: Literal["accepted", "rejected"]
    event_id: str | None = Field(None, description="assigned or echoed; absent for a rejected item without one")
    error: ItemError | None = Field(None, description="why the item was rejected (rejected items only)")


class SignalBatchResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accepted: int
    rejected: int
    results: list[ItemResult]


class SignalsAccepted(RootModel[SignalAccepted | SignalBatchResult]):
    """202: one accepted signal, or a batch whose items were all accepted."""

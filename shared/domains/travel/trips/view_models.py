"""The trip routes' response bodies, as pydantic models for the OpenAPI document.

view.trip_view / render_slot (and pivots.swap / pivots.pivot, persona_view) build these bodies as dicts; these
models describe them for infra/pulumi/openapi.yaml and are checked against real rendered bodies by
tests/unit/foundation/test_openapi_schemas.py and, through the local stack, by the contract fuzz test, so the
documented shape cannot drift from the answered one. The top-level shapes are closed (extra="forbid": a new key
must be documented here); a venue snapshot is open (it is stored with the slot, and older rows carry fewer keys).
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_CLOSED = ConfigDict(extra="forbid")


class CityRef(BaseModel):
    model_config = _CLOSED
    id: str
    name: str | None = None


class Leg(BaseModel):
    model_config = _CLOSED
    km: float | None = None
    minutes: int
    mode: str


class VenueSnapshot(BaseModel):
    """The venue as it was when the slot was planned (itinerary.snapshot); every key but id and name is optional."""
    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    category: str | None = None
    venue_type: str | None = None
    tags: list[str] | None = None
    lat: float | None = None
    lon: float | None = None
    coord_precision: str | None = None
    price_level: int | None = None
    hours: Any = None
    hours_source: str | None = None
    monthly: list[list[int]] | None = None  # (nth, weekday) pairs: a monthly occasion, open on those dates only
    quality: float | None = None
    description: str | None = None
    address: str | None = None
    landmark: bool | None = None
    visit_kind: str | None = None
    season_months: list[int] | None = None
    catalogued: bool | None = None


class SlotView(BaseModel):
    model_config = _CLOSED

    slot_id: str
    slot_order: int
    day_part: str
    kind: str | None = None
    arrive: str | None = Field(None, description="local time HH:MM")
    depart: str | None = Field(None, description="local time HH:MM")
    travel: Leg | None = Field(None, description="the leg from the previous stop of the day")
    venue: VenueSnapshot
    narrative: str | None = None
    claims: list[dict[str, Any]] = Field(description="the checkable facts the narrative states")
    serves: list[str] = Field(description="the travellers this stop is for")
    score: float | None = None


class ChangedSlot(SlotView):
    """A slot a swap or pivot changed: the slot as it is now, its day, and the pivot id its outcome signal names."""
    day: int
    pivot_id: str


class DayView(BaseModel):
    model_config = _CLOSED

    day: int
    date: dt.date
    weekday: str
    meal_windows: dict[str, list[str]]
    km: float
    slots: list[SlotView]


class MemberView(BaseModel):
    """A traveller of the trip; only the viewer's own entry shows their archetype and cold/warm state."""
    model_config = _CLOSED
    user_id: str
    you: bool | None = Field(None, description="true on the viewer's own entry")
    archetype: str | None = None
    state: str | None = None


class CacheInfo(BaseModel):
    model_config = _CLOSED
    hit: bool
    ranker_calls: int


class PersonaSummary(BaseModel):
    model_config = _CLOSED
    archetype: str | None = None
    description: str | None = None


class TripView(BaseModel):
    """The one trip view (view.trip_view): POST /v1/trips adds the creating request's cache, ranking_cache_hit,
    persona and timings_ms; GET and the live stream's `ready` event carry the rest."""
    model_config = _CLOSED

    trip_id: str
    city: CityRef
    catalogue: str = Field(description="seeded | places_fallback")
    start_date: dt.date
    end_date: dt.date
    status: str
    days: list[DayView]
    served_by: str
    ranker: str | None = None
    model_version: str
    fallback_reason: str | None = None
    arbitration: dict[str, Any] | None = None
    members: list[MemberView]
    empty_reason: str | None = None
    notes: list[str]
    quality_signals: str | None = None
    cache: CacheInfo | None = None
    ranking_cache_hit: bool | None = None
    persona: PersonaSummary | None = None
    timings_ms: dict[str, float] | None = None


class SwapView(BaseModel):
    model_config = _CLOSED

    trip_id: str
    slot: ChangedSlot
    served_by: str
    ranker_calls: int


class SkippedSlot(BaseModel):
    model_config = _CLOSED
    slot_id: str
    reason: str


class PivotView(BaseModel):
    model_config = _CLOSED

    trip_id: str
    type: Literal["venue_closed", "weather", "mood"]
    mood: str | None = None
    changed: list[ChangedSlot]
    skipped: list[SkippedSlot] | None = None
    served_by: str
    ranker_calls: int
    message: str | None = None


class PersonaView(BaseModel):
    """GET /v1/users/me/persona (persona_view.persona_view)."""
    model_config = _CLOSED

    user_id: str
    description: str | None = None
    tags: dict[str, Any]
    archetype: str
    embedding_dim: int
    signal_count: int
    state: Literal["cold", "warm"]
    warm_threshold: int


class InviteView(BaseModel):
    """POST /v1/users/me/invites (companions.create_invite)."""
    model_config = _CLOSED

    code: str
    expires_at: dt.datetime


class CompanionAccepted(BaseModel):
    """POST /v1/users/me/companions (companions.accept_invite): whose invitation was accepted."""
    model_config = _CLOSED

    user_id: str


class Companion(BaseModel):
    model_config = _CLOSED

    user_id: str
    since: dt.datetime


class CompanionList(BaseModel):
    """GET /v1/users/me/companions (companions.list_companions)."""
    model_config = _CLOSED

    companions: list[Companion]

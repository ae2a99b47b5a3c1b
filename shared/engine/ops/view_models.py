"""The operator routes' bodies (functions/admin: /v1/admin/signals, dead-letters, catalogue, reports, trips, alerts,
console/session), as models for the OpenAPI document. Nested figures stay open objects where the stores define
them (a seeding summary, an evaluation report), so the document does not fork their definitions."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConsoleSession(_Closed):
    signed_in: bool
    expires_at: int | None = Field(None, description="epoch seconds when the session cookie stops being accepted")


class MinuteCount(_Closed):
    minute: str
    signal_type: str
    count: int


class SinkLag(_Closed):
    signals: int = Field(description="signals stored in the window")
    p50: float | None = Field(None, description="seconds from accepted (created_at) to stored (received_at)")
    p95: float | None = None
    max: float | None = None


class SignalFlow(_Closed):
    window_minutes: int
    per_minute: list[MinuteCount]
    sink_lag_s: SinkLag
    last_stored_at: str | None = None


class CostDay(_Closed):
    day: str
    cost_usd: float
    calls: int
    alert_line_usd: float | None = Field(None, description="2x the rolling 7-day average before this day; null "
                                                            "without earlier usage")


class LlmCost(_Closed):
    days: list[CostDay]
    spike_factor: float
    window_days: int
    has_usage: bool


class SignalsOverview(_Closed):
    flow: SignalFlow
    llm_cost: LlmCost


class DeadLetter(_Closed):
    message_id: str
    published: str | None = None
    source_subscription: str | None = None
    reason: str
    error: str
    attempts: str | None = None
    event_id: str | None = None
    data: str = Field(description="the first 300 characters of the message")


class DeadLetterList(_Closed):
    dead_letters: list[DeadLetter]


class ReplayRequest(_Closed):
    message_ids: list[str] = Field(min_length=1, max_length=1000, description="ids from GET /v1/admin/dead-letters")


class ReplayFailure(_Closed):
    message_id: str
    reason: str


class ReplayResult(_Closed):
    replayed: list[str]
    failed: list[ReplayFailure]
    not_found: list[str] = Field(description="requested ids no longer on the hold (already replayed or acked)")


class CityOverview(_Closed):
    id: str
    name: str
    country: str | None = None
    seeded_at: str | None = None
    venues: int
    located: int
    hours: dict[str, int] = Field(description="venues whose opening hours parsed, did not parse, are missing")
    overrated: int
    top_tags: list[dict[str, Any]]
    most_overrated: list[dict[str, Any]]


class SeedRunRow(_Closed):
    run_id: str
    city_id: str
    sources: list[str]
    limit: int | None = None
    status: str
    progress: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None
    created_at: str
    finished_at: str | None = None


class CatalogueOverview(_Closed):
    cities: list[CityOverview]
    runs: list[SeedRunRow]


class ReportListing(_Closed):
    run_id: str | None = None
    path: str
    created_at: str | None = None
    dataset: str | None = None
    split: str | None = None
    eval_set: str | None = None
    models: list[str | None]


class ReportList(_Closed):
    reports: list[ReportListing]


class EvaluationReport(BaseModel):
    """jobs/evaluate's report.json as written (run_id, data, models with metric CIs, comparisons, gate, ...)."""
    model_config = ConfigDict(extra="allow")
    run_id: str
    models: list[dict[str, Any]]


class OperatorTrip(BaseModel):
    """The trip view model (GET /v1/trips/{trip_id}), each slot with model_version and located added, plus the trip's
    user_id and located_slots."""
    model_config = ConfigDict(extra="allow")
    trip_id: str
    days: list[dict[str, Any]]
    user_id: str | None = None
    located_slots: int


class AlertState(_Closed):
    name: str
    title: str
    declared_in: str
    state: str = Field(description="firing | ok | no_data")
    summary: str
    inputs: dict[str, Any]


class AlertList(_Closed):
    rules: list[AlertState]

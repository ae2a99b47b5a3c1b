"""The group routes' response bodies, as pydantic models for the OpenAPI document.

membership.group_view, calendars.windows and cycles.cycle_view build these bodies as dicts; these models describe
them for infra/pulumi/openapi.yaml and the contract fuzz test checks real answers against them, so the documented
shape cannot drift from the answered one. Every shape is closed (extra="forbid"): a new key must be documented.
"""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict

_CLOSED = ConfigDict(extra="forbid")


class Home(BaseModel):
    model_config = _CLOSED
    lat: float
    lon: float
    label: str | None = None


class MemberView(BaseModel):
    model_config = _CLOSED
    user_id: str
    display_name: str
    role: Literal["owner", "member"]
    you: bool
    seats: int
    home: Home | None = None
    calendar: Literal["ics", "busy", "google"] | None = None


class GroupView(BaseModel):
    """A group as its members see it: names, roles, seats and homes (carpools need them); diets only pooled."""
    model_config = _CLOSED
    id: str
    name: str
    city: str
    timezone: str
    owner: str
    quorum: int
    monthly_budget: float
    aggregation: Literal["least_misery", "nash_welfare", "average"]
    outing_minutes: int
    active: bool
    members: list[MemberView]
    diets: list[str]


class GroupInvite(BaseModel):
    model_config = _CLOSED
    code: str
    expires_at: dt.datetime


class GroupCreated(GroupView):
    """POST /v1/groups: the group and a first invitation code to share."""
    invite: GroupInvite


class CalendarSaved(BaseModel):
    model_config = _CLOSED
    group_id: str
    user_id: str
    source: Literal["ics", "busy", "google"]


class WindowView(BaseModel):
    model_config = _CLOSED
    start: dt.datetime
    end: dt.datetime
    attendees: list[str]
    missing: list[str]
    score: float


class WindowsView(BaseModel):
    """GET /v1/groups/{id}/windows: best first; `unreadable` names members whose calendar could not be read (they
    count as busy) and why."""
    model_config = _CLOSED
    group_id: str
    since: dt.datetime
    until: dt.datetime
    quorum: int
    duration_minutes: int
    windows: list[WindowView]
    unreadable: dict[str, str]


class StopView(BaseModel):
    model_config = _CLOSED
    venue_id: str
    name: str
    role: str
    start: dt.datetime
    end: dt.datetime
    cost_per_person: float
    category: str
    area: str
    address: str | None = None
    hours_source: Literal["listed", "typical", "description"]  # description: a monthly occasion
    lat: float
    lon: float


class ClaimView(BaseModel):
    """One sentence of a member's explanation and the venue data it rests on."""
    model_config = _CLOSED
    member: str
    venue: str | None = None
    kind: Literal["taste", "diet", "access", "budget"]
    subject: str
    claim: str
    evidence: str


class OptionView(BaseModel):
    model_config = _CLOSED
    rank: int
    label: Literal["safe", "familiar", "balanced", "fresh", "adventurous"]
    stops: list[StopView]
    cost_per_person: float
    novelty: float
    group_score: float
    aggregation: str
    satisfaction: dict[str, float]
    explanations: dict[str, list[ClaimView]]


class PickupView(BaseModel):
    model_config = _CLOSED
    user_id: str
    at: dt.datetime


class RouteView(BaseModel):
    model_config = _CLOSED
    driver: str
    leave_at: dt.datetime
    arrive_at: dt.datetime
    pickups: list[PickupView]
    detour_min: dict[str, int]
    line: str


class OnTheirOwnView(BaseModel):
    model_config = _CLOSED
    user_id: str
    mode: str
    minutes: int
    km: float
    leave_at: dt.datetime


class CarpoolsView(BaseModel):
    """Who drives, whom they pick up and when; who goes alone; each member's own line (as in their invitation)."""
    model_config = _CLOSED
    routes: list[RouteView]
    on_their_own: list[OnTheirOwnView]
    total_detour_min: int
    lines: dict[str, str]
    note: str | None = None


class CycleWindow(BaseModel):
    model_config = _CLOSED
    start: dt.datetime
    end: dt.datetime


class CycleView(BaseModel):
    """A month's cycle: proposed → voting → closed → happened → reviewed. No options and a reason: this month has
    no plan, and why."""
    model_config = _CLOSED
    id: str
    group_id: str
    month: dt.date
    status: Literal["proposed", "voting", "closed", "happened", "reviewed"]
    window: CycleWindow | None = None
    attendees: list[str]
    deadline: dt.datetime
    options: list[OptionView]
    tally: list[int] | None = None
    winner: int | None = None
    reason: str | None = None
    carpools: CarpoolsView | None = None
    served_by: str


class VoteView(BaseModel):
    model_config = _CLOSED
    cycle_id: str
    approve: list[int]
    tally: list[int]
    deadline: dt.datetime


class RetrospectiveView(BaseModel):
    """The review was stored; `signals` is how many signals it became; `preferences` the member's new weights."""
    model_config = _CLOSED
    cycle_id: str
    status: Literal["closed", "happened", "reviewed"]
    signals: int
    preferences: dict[str, float]

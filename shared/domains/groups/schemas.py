"""The group API's request bodies. Validation errors become 400s naming the field (shared.api)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.domains.groups.spectrum import ACCESS, DIETS
from shared.domains.travel.trips.schemas import city_name

AGGREGATIONS = ("least_misery", "nash_welfare", "average")
MAX_ICS_BYTES = 1_000_000
MAX_BUSY = 500
Diet = Literal[tuple(DIETS)]  # type: ignore[valid-type]
Access = Literal[tuple(ACCESS)]  # type: ignore[valid-type]


def _number(v: Any, name: str, kinds: tuple[type, ...] = (int, float), what: str = "a number") -> Any:
    """Before pydantic's coercion, which would take true as 1 and "5" as 5."""
    if v is not None and (isinstance(v, bool) or not isinstance(v, kinds)):
        raise ValueError(f"{name} must be {what}")
    return v


def _whole(v: Any, name: str) -> Any:
    return _number(v, name, (int,), "a whole number")


class Home(BaseModel):
    """Where a member starts from: coordinates, or an address or place name the city's catalogue knows."""
    model_config = ConfigDict(extra="forbid")

    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, min_length=2, max_length=200)

    @field_validator("lat", "lon", mode="before")
    @classmethod
    def _coord(cls, v):
        return _number(v, "a coordinate")

    @model_validator(mode="after")
    def _one_way(self) -> Home:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or an address")
        if self.lat is None and self.address is None:
            raise ValueError("give lat and lon, or an address")
        return self


class MemberProfile(BaseModel):
    """What planning needs from a member. budget: the most they spend on one outing (per person, the group's
    currency), when lower than the group's monthly budget; seats: passenger seats they offer when driving."""
    model_config = ConfigDict(extra="forbid")

    display_name: str = Field(default="", max_length=60)
    home: Home | None = None
    seats: int = Field(default=0, ge=0, le=8)
    diet: list[Diet] = Field(default_factory=list, max_length=len(DIETS))
    access: list[Access] = Field(default_factory=list, max_length=len(ACCESS))
    budget: float | None = Field(default=None, ge=0, le=100_000)
    timezone: str | None = Field(default=None, max_length=64)
    tags: dict[str, Any] | list[Any] | None = None

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, v):
        return _number(v, "budget")

    @field_validator("seats", mode="before")
    @classmethod
    def _seats(cls, v):
        return _whole(v, "seats")


class GroupCreate(BaseModel):
    """POST /v1/groups. monthly_budget: per person per month; quorum: how many must be free for an outing;
    aggregation: how members' tastes combine (least_misery: nobody is left unhappy; nash_welfare: the product
    of satisfactions, balanced; average)."""
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    city: str = Field(min_length=1, max_length=80)
    monthly_budget: float = Field(ge=0, le=100_000)
    quorum: int = Field(default=2, ge=1, le=50)
    aggregation: Literal[AGGREGATIONS] = "least_misery"  # type: ignore[valid-type]
    outing_minutes: int = Field(default=180, ge=30, le=720)
    me: MemberProfile = Field(default_factory=MemberProfile)

    @field_validator("monthly_budget", mode="before")
    @classmethod
    def _budget(cls, v):
        return _number(v, "monthly_budget")

    @field_validator("city")
    @classmethod
    def _city(cls, v: str) -> str:
        return city_name(v)


class JoinRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=8, max_length=64)
    me: MemberProfile = Field(default_factory=MemberProfile)


class BusyInterval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: dt.datetime
    end: dt.datetime

    @model_validator(mode="after")
    def _ordered(self) -> BusyInterval:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a UTC offset, e.g. 2031-03-04T18:00:00+01:00")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class CalendarUpload(BaseModel):
    """PUT /v1/groups/{id}/members/me/calendar: exactly one of an .ics document (text), busy intervals, or a
    Google calendar id shared with the service."""
    model_config = ConfigDict(extra="forbid")

    ics: str | None = Field(default=None, min_length=1, max_length=MAX_ICS_BYTES)
    busy: list[BusyInterval] | None = Field(default=None, max_length=MAX_BUSY)
    google_calendar_id: str | None = Field(default=None, min_length=3, max_length=254)

    @model_validator(mode="after")
    def _exactly_one(self) -> CalendarUpload:
        given = [k for k in ("ics", "busy", "google_calendar_id") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("send exactly one of ics, busy or google_calendar_id")
        return self


class CycleStart(BaseModel):
    """POST /v1/groups/{id}/cycles: the outing's window (one of GET .../windows), or none to take the best window
    of the coming weeks; the vote closes after vote_hours."""
    model_config = ConfigDict(extra="forbid")

    window_start: dt.datetime | None = None
    vote_hours: int = Field(default=72, ge=1, le=24 * 14)

    @field_validator("window_start")
    @classmethod
    def _aware(cls, v):
        if v is not None and v.tzinfo is None:
            raise ValueError("window_start needs a UTC offset, e.g. 2031-03-08T18:00:00-08:00")
        return v


class Vote(BaseModel):
    """Approval vote: every option (0 safe ... 4 adventurous) the member would go to; [] approves none."""
    model_config = ConfigDict(extra="forbid")

    approve: list[int] = Field(max_length=5)

    @field_validator("approve")
    @classmethod
    def _options(cls, v: list[int]) -> list[int]:
        if any(isinstance(i, bool) or not 0 <= i <= 4 for i in v):
            raise ValueError("options are numbered 0 (safe) to 4 (adventurous)")
        if len(set(v)) != len(v):
            raise ValueError("name each option once")
        return sorted(v)


class Retrospective(BaseModel):
    """After the outing: the member's rating of it (1-5), of its venues (venue id -> 1-5), and who came."""
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)
    venue_ratings: dict[str, int] = Field(default_factory=dict, max_length=3)
    attended: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("rating", mode="before")
    @classmethod
    def _rating(cls, v):
        return _whole(v, "rating")

    @field_validator("venue_ratings")
    @classmethod
    def _ratings(cls, v: dict[str, int]) -> dict[str, int]:
        for key, r in v.items():
            if isinstance(r, bool) or not 1 <= r <= 5:
                raise ValueError(f"venue rating for {key!r} must be 1 to 5")
        return v

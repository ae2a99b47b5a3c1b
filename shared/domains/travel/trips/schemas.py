"""The public trip API's request bodies. Validation errors become 400s naming the field (shared.api)."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

MAX_DAYS = 14
MAX_GROUP = 8
MAX_YEARS_AHEAD = 5   # a trip starts at most this far ahead: the limit keeps 9999-12-31 out, not real plans
BUDGETS = {"low": 1, "medium": 2, "high": 3, "luxury": 4}
MOODS = ("relaxed", "energetic", "romantic", "cozy", "adventurous", "cultural", "hungry", "lively", "quiet")
_CITY = re.compile(r"^[a-z0-9][a-z0-9 .,'-]{0,79}$", re.IGNORECASE)
_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")


def city_name(v: str) -> str:
    """A city id or name as requests give it (the one rule trips and groups share)."""
    if not _CITY.match(v.strip()):
        raise ValueError("city must be a city name or id (letters, digits, spaces, - . , ')")
    return v.strip()


class TripRequest(BaseModel):
    """POST /v1/trips.

    city:            a city id or name ("seattle", "San Francisco")
    start_date/end_date: ISO dates, end >= start, at most 14 days inclusive; the start not in the past (UTC,
                     a day's grace for time zones) and at most MAX_YEARS_AHEAD years ahead
    tags:            onboarding tags, object or list (see shared/domains/travel/trips/tags.py for the vocabulary)
    budget:          "low" | "medium" | "high" | "luxury" or 1..4: the highest price level a stop may have
    group_user_ids:  other travellers to plan a compromise trip for: only companions (users who accepted the
                     caller's invitation, or whose invitation the caller accepted; see companions.py) with a persona
    """
    model_config = ConfigDict(extra="forbid")

    city: str = Field(min_length=1, max_length=80)
    start_date: dt.date
    end_date: dt.date
    tags: dict[str, Any] | list[Any] | None = None
    budget: str | int | None = None
    group_user_ids: list[str] = Field(default_factory=list, max_length=MAX_GROUP - 1)

    @field_validator("city")
    @classmethod
    def _city(cls, v: str) -> str:
        return city_name(v)

    @field_validator("budget", mode="before")
    @classmethod
    def _budget_type(cls, v):
        """Before pydantic's coercion, which would take true as 1 and 2.0 as 2."""
        if v is not None and (isinstance(v, bool) or not isinstance(v, (str, int))):
            raise ValueError("budget must be low|medium|high|luxury or 1..4")
        return v

    @field_validator("budget")
    @classmethod
    def _budget(cls, v):
        if v is None:
            return v
        if isinstance(v, int):
            if not 1 <= v <= 4:
                raise ValueError("budget must be between 1 and 4")
            return v
        if v.lower() not in BUDGETS:
            raise ValueError("budget must be low|medium|high|luxury or 1..4")
        return v.lower()

    @field_validator("group_user_ids")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        for x in v:
            if not _ID.match(x):
                raise ValueError(f"not a user id: {x!r}")
        if len(set(v)) != len(v):
            raise ValueError("group_user_ids repeats a user")
        return v

    @field_validator("start_date")
    @classmethod
    def _start(cls, v: dt.date) -> dt.date:
        today = dt.datetime.now(dt.timezone.utc).date()
        if v < today - dt.timedelta(days=1):
            raise ValueError(f"is in the past; a new trip starts on or after {today.isoformat()}")
        latest = today.replace(year=today.year + MAX_YEARS_AHEAD, day=min(today.day, 28))
        if v > latest:
            raise ValueError(f"is more than {MAX_YEARS_AHEAD} years ahead (latest {latest.isoformat()})")
        return v

    @field_validator("end_date")
    @classmethod
    def _dates(cls, v: dt.date, info: ValidationInfo) -> dt.date:
        start = info.data.get("start_date")
        if start is None:
            return v
        if v < start:
            raise ValueError("must not be before start_date")
        if (v - start).days + 1 > MAX_DAYS:
            raise ValueError(f"a trip is at most {MAX_DAYS} days")
        return v

    @property
    def days(self) -> int:
        return (self.end_date - self.start_date).days + 1

    @property
    def max_price_level(self) -> int | None:
        if self.budget is None:
            return None
        return self.budget if isinstance(self.budget, int) else BUDGETS[self.budget]


class SwapRequest(BaseModel):
    """PATCH /v1/trips/{id}/slots/{slot_id}: a named venue, or (empty body / null) the next-best fallback."""
    model_config = ConfigDict(extra="forbid")
    activity_node_id: str | None = Field(default=None, max_length=128)


class PivotRequest(BaseModel):
    """POST /v1/trips/{id}/pivot.

    venue_closed: slot_id required; served from the trip's precomputed fallbacks
    weather:      day required; outdoor stops that day move indoors (precomputed fallbacks)
    mood:         mood required, slot_id or day; a fresh vector search near the mood
    """
    model_config = ConfigDict(extra="forbid")
    type: Literal["venue_closed", "weather", "mood"]
    slot_id: str | None = Field(default=None, max_length=128)
    day: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    mood: Literal[MOODS] | None = None  # type: ignore[valid-type]
    weather: str | None = Field(default="rain", max_length=40)

    def problem(self) -> tuple[str, str] | None:
        """(field, message) when a type's required field is missing; the handler answers 400 naming it."""
        if self.type == "venue_closed" and not self.slot_id:
            return "slot_id", "required for a venue_closed pivot"
        if self.type == "weather" and self.day is None and not self.slot_id:
            return "day", "required for a weather pivot (or give slot_id)"
        if self.type == "mood":
            if self.mood is None:
                return "mood", f"required for a mood pivot; one of {', '.join(MOODS)}"
            if self.day is None and not self.slot_id:
                return "day", "a mood pivot needs a day or a slot_id"
        return None


class InviteAcceptance(BaseModel):
    """POST /v1/users/me/companions: accept the invitation code another traveller gave you."""
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")

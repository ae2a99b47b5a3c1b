"""The signal schema, in two strengths.

- `SignalIn` is what a client may send to POST /v1/signals: strict types, closed key sets, bounded sizes.
  It is the gate that keeps malformed input out of the training data.
- `SignalRecord` is the normalised message on the `signals` and `candidate-sets` topics, as the sink reads it.
  It is deliberately more tolerant of extra context keys (the trips function adds its own, e.g. `ranker`),
  but still refuses anything that would not make a usable row; such messages are poison and dead-lettered.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StringConstraints

SignalType = Literal[
    "slot_view",
    "slot_accept",
    "slot_skip",
    "slot_swap",
    "pivot_accept",
    "pivot_dismiss",
    "pivot_ignore",
    "thumbs_up",
    "thumbs_down",
    "candidate_set_logged",
]
SIGNAL_TYPES: tuple[str, ...] = get_args(SignalType)
# Logged by the server for every generation (the training data's candidate sets); a client cannot send it.
SERVER_ONLY_TYPES = frozenset({"candidate_set_logged"})
# Every user action is about one item (the venue shown, accepted, skipped, swapped, proposed as a pivot, rated).
ITEM_TYPES = frozenset(SIGNAL_TYPES) - SERVER_ONLY_TYPES
POSITIVE_TYPES = frozenset({"slot_accept", "thumbs_up", "pivot_accept"})
# A user's "no" to an item they were shown: what learners weigh as a negative and evaluation counts as answered.
NEGATIVE_TYPES = frozenset({"slot_skip", "slot_swap", "thumbs_down", "pivot_dismiss"})
# users.signal_count counts the user's own actions; a logged candidate set is not one.
COUNTED_TYPES = ITEM_TYPES

# The cold/warm boundary: a user with fewer signals than this never reaches an ML ranker.
WARM_THRESHOLD = 20


def is_warm(signal_count: int | None) -> bool:
    return (signal_count or 0) >= WARM_THRESHOLD


MAX_BATCH = 500
MAX_TIME_TO_ACTION_MS = 86_400_000  # one day: anything longer is not a reaction to what was shown
MAX_CLIENT_CANDIDATES = 500
MAX_LOGGED_CANDIDATES = 2_000
MAX_IN_APP_AGE_DAYS = 7  # a client may queue signals offline for a while, not forever
MAX_BACKFILL_AGE_DAYS = 5 * 365
MAX_CLOCK_SKEW_S = 300

# Ids are opaque, printable and bounded: no control characters (Postgres text cannot hold NUL) and no spaces.
Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x20\x7f]+$")]
# A client-chosen event id must be hard to guess, so one client cannot pre-empt another's event.
ClientEventId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{15,127}$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
DayPart = Literal["morning", "afternoon", "evening"]


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Id
    score: StrictFloat | StrictInt | None = None


class SignalContext(BaseModel):
    """What the user saw when they acted; the keys are closed so the training data keeps one shape."""

    model_config = ConfigDict(extra="forbid")

    time_to_action_ms: StrictInt | None = Field(None, ge=0, le=MAX_TIME_TO_ACTION_MS)
    day_of_trip: StrictInt | None = Field(None, ge=1, le=366)
    day_part: DayPart | None = None
    group_size: StrictInt | None = Field(None, ge=1, le=100)
    candidates: list[Candidate] | None = Field(None, max_length=MAX_CLIENT_CANDIDATES)
    candidate_set_event_id: Id | None = None  # the generation this action answers, when the client knows it
    slot_id: Id | None = None
    pivot_id: Id | None = None
    position: StrictInt | None = Field(None, ge=0, le=MAX_LOGGED_CANDIDATES)


class SignalIn(BaseModel):
    """One signal as a client sends it. `weight` is not a field: the server assigns it from `source`."""

    model_config = ConfigDict(extra="forbid")

    event_id: ClientEventId | None = None
    user_id: Id | None = None
    signal_type: SignalType
    activity_node_id: Id | None = None
    trip_id: Id | None = None
    context: SignalContext = Field(default_factory=SignalContext)
    model_version: ShortText | None = None
    source: Literal["in_app", "backfill"] = "in_app"
    occurred_at: AwareDatetime | None = None


class LoggedCandidate(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: Id
    score: float | None = None


class RecordContext(BaseModel):
    """The sink's view of `context`: known keys are type-checked, extra keys (ranker, served_by, ...) kept."""

    model_config = ConfigDict(extra="allow")

    time_to_action_ms: int | None = Field(None, ge=0, le=MAX_TIME_TO_ACTION_MS)
    day_of_trip: int | None = Field(None, ge=1, le=366)
    day_part: Annotated[str, StringConstraints(max_length=32)] | None = None
    group_size: int | None = Field(None, ge=1, le=1000)
    candidates: list[LoggedCandidate] | None = Field(None, max_length=MAX_LOGGED_CANDIDATES)


class SignalRecord(BaseModel):
    """A normalised signal as it travels on Pub/Sub and lands in behavioral_signals."""

    model_config = ConfigDict(extra="ignore")

    event_id: Id
    user_id: Id
    signal_type: SignalType
    activity_node_id: Id | None = None
    trip_id: Id | None = None
    context: RecordContext = Field(default_factory=RecordContext)
    weight: float = Field(1.0, gt=0, le=10)
    model_version: Annotated[str, StringConstraints(max_length=128)] | None = None
    created_at: AwareDatetime | None = None

    def context_json(self) -> dict[str, Any]:
        """The context as stored: unset known keys are left out rather than stored as nulls."""
        return self.context.model_dump(mode="json", exclude_none=True)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)

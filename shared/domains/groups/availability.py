"""When a group can meet: the windows in the coming weeks where at least a quorum of members is free for the
outing's whole length, ranked by how many can come and how convenient the time is for each of them.

Busy time is read per member from an iCalendar feed or file (RFC 5545, parsed with `icalendar`; recurrences,
exceptions and edits expanded by `recurring-ical-events`) or from busy intervals the member gives. A free/busy
source such as Google Calendar's freeBusy plugs in by producing the same `MemberBusy`.

Rules:
- an event marked TRANSP:TRANSPARENT ("show me as free") or STATUS:CANCELLED is not busy time;
- an all-day event is busy from the member's local midnight to the next (their time zone, not the server's);
- a window is offered only when it starts and ends inside every attendee's waking hours (08:00-23:00 local);
- convenience, in each attendee's own time: a weekend from 10:00, or a weekday evening from 18:00, is 1.0; a
  weekend early morning or a weekday lunchtime 0.5; other weekday working hours 0.2. A window's score is the
  share of members who can come plus 0.5 × the attendees' mean convenience, so five people at a bad hour beat
  three at a good one only when the group is large.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from shared.domains.errors import InvalidRequest

Interval = tuple[dt.datetime, dt.datetime]   # aware datetimes, start < end
WAKING = (dt.time(8, 0), dt.time(23, 0))
SOCIAL_MORNING = dt.time(10, 0)
STEP = dt.timedelta(minutes=30)
MAX_HORIZON = dt.timedelta(days=62)


@dataclass(frozen=True)
class MemberBusy:
    user_id: str
    tz: ZoneInfo
    busy: list[Interval] = field(default_factory=list)


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime
    attendees: tuple[str, ...]
    missing: tuple[str, ...]
    score: float

    def as_dict(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "attendees": list(self.attendees),
                "missing": list(self.missing), "score": round(self.score, 3)}


def busy_from_ics(text: str | bytes, tz: ZoneInfo, start: dt.datetime, end: dt.datetime,
                  field_name: str = "calendar") -> list[Interval]:
    """Every busy interval of the calendar that overlaps [start, end), recurrences expanded."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
        events = recurring_ical_events.of(calendar).between(start, end)
    except Exception as exc:  # the parsers raise ValueError, KeyError and their own types for malformed input
        raise InvalidRequest(f"not a readable iCalendar file ({type(exc).__name__}: {str(exc)[:120]}); "
                             "export the calendar as .ics and upload that", field_name) from None
    out: list[Interval] = []
    for event in events:
        if str(event.get("TRANSP", "")).upper() == "TRANSPARENT" or str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        begin = _aware(event["DTSTART"].dt, tz)
        finish = _aware(event["DTEND"].dt, tz) if "DTEND" in event else None
        if finish is None:
            finish = begin + (event["DURATION"].dt if "DURATION" in event else
                              dt.timedelta(days=1) if not isinstance(event["DTSTART"].dt, dt.datetime) else dt.timedelta(0))
        if finish > begin:
            out.append((begin, finish))
    return merge(out)


def _aware(value: dt.date | dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """A date is the member's local midnight; a floating time is the member's local time."""
    if not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time(0), tz)
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def merge(intervals: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for begin, finish in sorted(intervals):
        if out and begin <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], finish))
        else:
            out.append((begin, finish))
    return out


def convenience(start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> float | None:
    """How good [start, end) is for someone in `tz`; None when it is outside their waking hours."""
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    if local_start.date() != local_end.date() and local_end.time() != dt.time(0):
        return None
    end_time = local_end.time() if local_end.time() != dt.time(0) else dt.time(23, 59)
    if local_start.time() < WAKING[0] or end_time > WAKING[1]:
        return None
    if local_start.weekday() >= 5:
        return 1.0 if local_start.time() >= SOCIAL_MORNING else 0.5   # friends do not meet at 08:00 on a Saturday
    if local_start.time() >= dt.time(18, 0):
        return 1.0
    if dt.time(11, 30) <= local_start.time() and end_time <= dt.time(14, 0):
        return 0.5
    return 0.2


def _free(busy: list[Interval], start: dt.datetime, end: dt.datetime) -> bool:
    return all(finish <= start or begin >= end for begin, finish in busy)


def can_come(member: MemberBusy, start: dt.datetime, end: dt.datetime) -> bool:
    """Free then, and at a waking hour in their own zone: the test every window applies to each member."""
    return convenience(start, end, member.tz) is not None and _free(member.busy, start, end)


def common_windows(members: list[MemberBusy], start: dt.datetime, end: dt.datetime, duration: dt.timedelta,
                   quorum: int, limit: int = 10) -> list[Window]:
    """The best non-overlapping windows of `duration` in [start, end) where at least `quorum` members are free,
    best first (ties: earlier first)."""
    if not members:
        raise InvalidRequest("a group needs members to find a time", "members")
    if not 1 <= quorum <= len(members):
        raise InvalidRequest(f"quorum must be between 1 and the {len(members)} members", "quorum")
    if not dt.timedelta(minutes=30) <= duration <= dt.timedelta(hours=12):
        raise InvalidRequest("duration must be between 30 minutes and 12 hours", "duration_minutes")
    if end - start > MAX_HORIZON or end <= start:
        raise InvalidRequest(f"the search range must be positive and at most {MAX_HORIZON.days} days", "until")
    candidates: list[Window] = []
    t = _ceil(start)
    while t + duration <= end:
        attendees, missing, good = [], [], []
        for m in members:
            score = convenience(t, t + duration, m.tz)
            if score is not None and _free(m.busy, t, t + duration):
                attendees.append(m.user_id)
                good.append(score)
            else:
                missing.append(m.user_id)
        if len(attendees) >= quorum:
            candidates.append(Window(t, t + duration, tuple(attendees), tuple(missing),
                                     len(attendees) / len(members) + 0.5 * sum(good) / len(good)))
        t += STEP
    chosen: list[Window] = []
    for w in sorted(candidates, key=lambda w: (-w.score, w.start)):
        if all(w.end <= c.start or w.start >= c.end for c in chosen):
            chosen.append(w)
            if len(chosen) == limit:
                break
    return chosen


def _ceil(t: dt.datetime) -> dt.datetime:
    """Round up to the next half hour (windows start on :00 or :30)."""
    base = t.replace(minute=0, second=0, microsecond=0)
    while base < t:
        base += STEP
    return base

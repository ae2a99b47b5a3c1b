"""Members' calendars for a group, and the windows when the group can meet.

An uploaded .ics is parsed once at upload (a file that does not parse is refused there, naming `ics`, and
nothing is stored) and kept as text: recurrences have no end, so they are expanded for each query's range.
Busy intervals are kept as given. A Google calendar is read through freeBusy at query time; when it cannot be
read, that member counts as busy for the whole range and the answer says why under `unreadable`, so a window
never relies on a calendar nobody could see.
"""
from __future__ import annotations

import datetime as dt
import logging

from shared.adapters.google_calendar import CalendarUnavailable, free_busy
from shared.domains.errors import InvalidRequest
from shared.domains.groups.availability import MemberBusy, busy_from_ics, common_windows, merge
from shared.domains.groups.membership import Group, member_zones
from shared.domains.groups.schemas import CalendarUpload

log = logging.getLogger("concierge.groups")
PARSE_CHECK = dt.timedelta(days=62)
MAX_WEEKS = 8


async def save_calendar(conn, group: Group, user: str, body: CalendarUpload) -> dict:
    zones = await member_zones(conn, group)
    if body.ics is not None:
        now = dt.datetime.now(dt.timezone.utc)
        busy_from_ics(body.ics, zones[user], now, now + PARSE_CHECK, "ics")  # refuses a file that does not parse
        source, ics, busy, cid = "ics", body.ics, None, None
    elif body.busy is not None:
        source, ics, cid = "busy", None, None
        busy = [[b.start.isoformat(), b.end.isoformat()] for b in body.busy]
    else:
        source, ics, busy, cid = "google", None, None, body.google_calendar_id
    await conn.execute(
        """INSERT INTO group_calendars (group_id, user_id, source, ics, busy, calendar_id, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, now())
           ON CONFLICT (group_id, user_id) DO UPDATE SET source = EXCLUDED.source, ics = EXCLUDED.ics,
               busy = EXCLUDED.busy, calendar_id = EXCLUDED.calendar_id, updated_at = now()""",
        group.id, user, source, ics, busy, cid)
    return {"group_id": group.id, "user_id": user, "source": source}


async def busy_of_members(conn, group: Group, start: dt.datetime, end: dt.datetime,
                          ) -> tuple[list[MemberBusy], dict[str, str]]:
    """Every member's busy time in [start, end), and the members whose calendar could not be read (why)."""
    zones = await member_zones(conn, group)
    rows = {r["user_id"]: r for r in await conn.fetch("SELECT * FROM group_calendars WHERE group_id = $1", group.id)}
    out, unreadable = [], {}
    for user, tz in zones.items():
        row = rows.get(user)
        busy: list = []
        if row is None:
            pass  # no calendar: free whenever it is a waking hour for them
        elif row["source"] == "ics":
            busy = busy_from_ics(row["ics"], tz, start, end, "ics")
        elif row["source"] == "busy":
            busy = merge([(dt.datetime.fromisoformat(a), dt.datetime.fromisoformat(b)) for a, b in row["busy"]])
        else:
            try:
                busy = merge(await free_busy(row["calendar_id"], start, end))
            except CalendarUnavailable as exc:
                log.warning("group %s: calendar of %s unreadable: %s", group.id, user, exc)
                unreadable[user] = str(exc)
                busy = [(start, end)]
        out.append(MemberBusy(user, tz, busy))
    return out, unreadable


async def windows(conn, group: Group, start: dt.datetime, weeks: int, duration_minutes: int | None = None,
                  limit: int = 10) -> dict:
    if not 1 <= weeks <= MAX_WEEKS:
        raise InvalidRequest(f"weeks must be 1 to {MAX_WEEKS}", "weeks")
    end = start + dt.timedelta(weeks=weeks)
    busy, unreadable = await busy_of_members(conn, group, start, end)
    duration = dt.timedelta(minutes=duration_minutes or group.outing_minutes)
    quorum = min(group.quorum, len(busy))
    found = common_windows(busy, start, end, duration, quorum, limit)
    return {"group_id": group.id, "since": start.isoformat(), "until": end.isoformat(), "quorum": quorum,
            "duration_minutes": int(duration.total_seconds() // 60),
            "windows": [w.as_dict() for w in found], "unreadable": unreadable}

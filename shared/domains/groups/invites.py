"""The calendar invitation each member gets once the plan is closed: one VEVENT in an iCalendar file.

Why one file per member with one shared UID: calendar apps match updates by UID, so the same event (group and
cycle) stays one entry however often the plan is re-sent, while each member's copy carries their own travel
line (who picks them up, or when to leave). Times are written in UTC (the "Z" form), which every client reads
the same way without shipping a VTIMEZONE. DTSTAMP is the time the invitation was issued, given by the caller,
so the same plan always produces the same bytes.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence

import icalendar

from shared.domains.groups.carpools import CarpoolPlan
from shared.domains.groups.spectrum import Member, Option

PRODID = "-//Concierge//Group outings//EN"
UID_DOMAIN = "concierge.groups"
ROLE_WORDS = {"lunch": "Lunch", "dinner": "Dinner", "treat": "A treat", "visit": "Visit", "night": "Drinks"}


def event_uid(group_id: str, cycle: str) -> str:
    """Stable per group and cycle: the same outing is the same calendar entry everywhere."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", f"{group_id}-{cycle}")
    return f"outing-{safe}@{UID_DOMAIN}"


def plan_text(option: Option) -> str:
    return "\n".join(f"{s.start:%H:%M}-{s.end:%H:%M} {ROLE_WORDS.get(s.role, s.role.title())}: {s.name}"
                     + (f" ({s.address})" if s.address else "") for s in option.stops)


def invitation(group_id: str, cycle: str, option: Option, *, summary: str, travel_line: str, issued_at: dt.datetime,
               organizer_email: str | None = None, attendee_email: str | None = None,
               attendee_name: str | None = None) -> bytes:
    first = option.stops[0]
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", "REQUEST" if organizer_email else "PUBLISH")
    event = icalendar.Event()
    event.add("uid", event_uid(group_id, cycle))
    event.add("dtstamp", issued_at.astimezone(dt.timezone.utc))
    event.add("dtstart", first.start.astimezone(dt.timezone.utc))
    event.add("dtend", option.stops[-1].end.astimezone(dt.timezone.utc))
    event.add("summary", summary)
    event.add("location", first.name + (f", {first.address}" if first.address else ""))
    event.add("geo", (first.lat, first.lon))
    event.add("description", plan_text(option) + (f"\n\n{travel_line}" if travel_line else ""))
    if organizer_email:
        event.add("organizer", icalendar.vCalAddress(f"mailto:{organizer_email}"))
    if attendee_email:
        attendee = icalendar.vCalAddress(f"mailto:{attendee_email}")
        if attendee_name:
            attendee.params["cn"] = icalendar.vText(attendee_name)
        attendee.params["role"] = icalendar.vText("REQ-PARTICIPANT")
        attendee.params["partstat"] = icalendar.vText("NEEDS-ACTION")
        event.add("attendee", attendee)
    cal.add_component(event)
    return cal.to_ical()


def outing_summary(group_name: str, option: Option) -> str:
    """The event's title: "Thursday crew: Pike Place Market + 1 more"."""
    more = len(option.stops) - 1
    return f"{group_name}: {option.stops[0].name}" + (f" + {more} more" if more else "")


def invitations(group_id: str, cycle: str, option: Option, members: Sequence[Member], *, issued_at: dt.datetime,
                carpool: CarpoolPlan | None = None, group_name: str = "Group outing",
                emails: Mapping[str, str] | None = None, organizer_email: str | None = None) -> dict[str, bytes]:
    """One invitation per member, keyed by user id."""
    summary = outing_summary(group_name, option)
    emails = emails or {}
    return {m.user_id: invitation(group_id, cycle, option, summary=summary,
                                  travel_line=carpool.line_for(m.user_id) if carpool else "", issued_at=issued_at,
                                  organizer_email=organizer_email, attendee_email=emails.get(m.user_id),
                                  attendee_name=m.display_name)
            for m in members}

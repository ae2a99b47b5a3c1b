"""Common availability from members' calendars (.ics with recurrences) and busy intervals."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from shared.domains.errors import InvalidRequest
from shared.domains.groups.availability import MemberBusy, busy_from_ics, common_windows, convenience

SEATTLE = ZoneInfo("America/Los_Angeles")
UTC = dt.timezone.utc
# Mondays 2031-06-02 ... : a weekly evening class 18:00-21:00 Seattle time, except on 2031-06-09, and a trip
# marked "free" (transparent) that must not count.
ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//concierge tests//EN
BEGIN:VEVENT
UID:class-1
DTSTART;TZID=America/Los_Angeles:20310602T180000
DTEND;TZID=America/Los_Angeles:20310602T210000
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6
EXDATE;TZID=America/Los_Angeles:20310609T180000
SUMMARY:Pottery class
END:VEVENT
BEGIN:VEVENT
UID:maybe-1
DTSTART;TZID=America/Los_Angeles:20310603T180000
DTEND;TZID=America/Los_Angeles:20310603T220000
TRANSP:TRANSPARENT
SUMMARY:Maybe drinks
END:VEVENT
BEGIN:VEVENT
UID:allday-1
DTSTART;VALUE=DATE:20310607
DTEND;VALUE=DATE:20310608
SUMMARY:Wedding
END:VEVENT
END:VCALENDAR
"""


def local(y, mo, d, h, mi=0, tz=SEATTLE) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=tz)


def test_recurrences_exceptions_and_transparency_are_read():
    busy = busy_from_ics(ICS, SEATTLE, local(2031, 6, 1, 0), local(2031, 7, 1, 0))
    starts = [b[0].astimezone(SEATTLE) for b in busy]
    classes = [s for s in starts if s.hour == 18]
    assert [s.day for s in classes] == [2, 16, 23, 30]  # 9 June is excepted; COUNT=6 goes on into July
    assert local(2031, 6, 7, 0) in starts  # the all-day wedding, from the member's local midnight
    assert all(s.day != 3 for s in starts)  # "maybe drinks" is transparent: not busy


def test_an_unreadable_calendar_is_a_400_naming_the_field():
    with pytest.raises(InvalidRequest) as err:
        busy_from_ics("this is not a calendar", SEATTLE, local(2031, 6, 1, 0), local(2031, 6, 8, 0),
                      field_name="members[1].calendar")
    assert err.value.field == "members[1].calendar"


def test_windows_respect_everyones_calendar_and_prefer_evenings_and_weekends():
    start, end = local(2031, 6, 2, 0), local(2031, 6, 9, 0)
    ana = MemberBusy("ana", SEATTLE, busy_from_ics(ICS, SEATTLE, start, end))
    ben = MemberBusy("ben", SEATTLE, [(local(2031, 6, 4, 17), local(2031, 6, 4, 23))])
    windows = common_windows([ana, ben], start, end, dt.timedelta(hours=3), quorum=2)
    assert windows, "a free week has common evenings"
    for w in windows:
        assert set(w.attendees) == {"ana", "ben"}
        s = w.start.astimezone(SEATTLE)
        assert not (s.weekday() == 0 and s.hour < 21 and s.hour + 3 > 18)  # not over Monday's class
        assert s.date() != dt.date(2031, 6, 7)  # the wedding day
        assert dt.time(8) <= s.time() and (w.end.astimezone(SEATTLE).time() <= dt.time(23))
    best = windows[0].start.astimezone(SEATTLE)
    assert best.weekday() >= 5 or best.hour >= 18  # the top window is a weekend or an evening


def test_a_quorum_lets_the_group_meet_without_everyone_and_says_who_is_missing():
    start, end = local(2031, 6, 6, 17), local(2031, 6, 6, 23)  # one Friday evening
    busy_all_evening = [(start, end)]
    members = [MemberBusy("a", SEATTLE), MemberBusy("b", SEATTLE), MemberBusy("c", SEATTLE, busy_all_evening)]
    assert common_windows(members, start, end, dt.timedelta(hours=2), quorum=3) == []
    windows = common_windows(members, start, end, dt.timedelta(hours=2), quorum=2)
    assert windows and all(w.missing == ("c",) for w in windows)


def test_waking_hours_are_each_members_own():
    """A Seattle evening is a Berlin small hours: with a Berliner in the group, no window fits both."""
    berlin = ZoneInfo("Europe/Berlin")
    start, end = local(2031, 6, 3, 18), local(2031, 6, 3, 23)
    members = [MemberBusy("sea", SEATTLE), MemberBusy("ber", berlin)]
    assert common_windows(members, start, end, dt.timedelta(hours=2), quorum=2) == []
    assert convenience(local(2031, 6, 7, 10), local(2031, 6, 7, 12), berlin) == 1.0  # 19:00 Saturday in Berlin


@pytest.mark.parametrize("kw,field", [
    ({"quorum": 0}, "quorum"), ({"quorum": 3}, "quorum"),
    ({"duration": dt.timedelta(minutes=10)}, "duration_minutes"),
    ({"end": dt.datetime(2031, 9, 1, tzinfo=UTC)}, "until"),
])
def test_bad_parameters_name_the_field(kw, field):
    args = {"members": [MemberBusy("a", SEATTLE), MemberBusy("b", SEATTLE)],
            "start": dt.datetime(2031, 6, 1, tzinfo=UTC), "end": dt.datetime(2031, 6, 8, tzinfo=UTC),
            "duration": dt.timedelta(hours=2), "quorum": 2, **kw}
    with pytest.raises(InvalidRequest) as err:
        common_windows(**args)
    assert err.value.field == field


def test_a_saturday_morning_at_eight_is_less_convenient_than_a_saturday_afternoon():
    tz = ZoneInfo("America/Los_Angeles")
    saturday = dt.datetime(2031, 3, 8, tzinfo=tz)
    assert convenience(saturday.replace(hour=8), saturday.replace(hour=10), tz) == 0.5
    assert convenience(saturday.replace(hour=14), saturday.replace(hour=17), tz) == 1.0
    assert convenience(saturday.replace(hour=19), saturday.replace(hour=22), tz) == 1.0

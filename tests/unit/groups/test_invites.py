"""Invitations: one VEVENT per member that parses back with the same UID, UTC times, place and travel line."""
from __future__ import annotations

import datetime as dt

import icalendar

from shared.domains.groups.availability import busy_from_ics
from shared.domains.groups.carpools import plan_carpools
from shared.domains.groups.invites import event_uid, invitations
from shared.domains.groups.spectrum import Option, Stop
from tests.unit.groups.venues import BASE, SEATTLE, members

UTC = dt.timezone.utc
ISSUED = dt.datetime(2031, 6, 2, 9, 0, tzinfo=UTC)


def local(h, mi=0):
    return dt.datetime(2031, 6, 7, h, mi, tzinfo=SEATTLE)


OPTION = Option(
    rank=0, label="safe", cost_per_person=45.0, novelty=0.2, group_score=0.7, aggregation="least_misery",
    satisfaction={}, explanations={},
    stops=(Stop("r_thai", "Bangkok Corner", "dinner", local(18), local(19, 20), 30.0, "restaurant", "capitol_hill",
                BASE[0], BASE[1], "101 Pike St"),
           Stop("b_pub", "The Anchor", "night", local(19, 40), local(21), 15.0, "pub", "downtown", BASE[0] + 0.001,
                BASE[1], None)))


def parse(ics: bytes) -> icalendar.Event:
    cal = icalendar.Calendar.from_ical(ics)
    (event,) = cal.walk("VEVENT")
    return event


def test_one_invitation_per_member_that_round_trips():
    group = members()
    carpool = plan_carpools(group, BASE, local(18))
    ics = invitations("g1", "2031-06", OPTION, group, issued_at=ISSUED, carpool=carpool, group_name="Thursday club",
                      emails={"ana": "ana@example.com"}, organizer_email="plans@example.com")
    assert sorted(ics) == ["ana", "ben", "cara", "dev"]
    for uid, body in ics.items():
        event = parse(body)
        assert str(event["UID"]) == event_uid("g1", "2031-06")
        assert event["DTSTART"].dt == local(18) and event["DTSTART"].dt.utcoffset() == dt.timedelta(0)
        assert event["DTEND"].dt == local(21).astimezone(UTC)
        assert b"DTSTART:20310608T010000Z" in body            # 18:00 in Seattle is 01:00Z the next day
        assert str(event["SUMMARY"]) == "Thursday club: Bangkok Corner + 1 more"
        assert str(event["LOCATION"]) == "Bangkok Corner, 101 Pike St"
        description = str(event["DESCRIPTION"])
        assert "18:00-19:20 Dinner: Bangkok Corner (101 Pike St)" in description
        assert "19:40-21:00 Drinks: The Anchor" in description
        assert carpool.line_for(uid) and description.endswith(carpool.line_for(uid))
        assert str(event["ORGANIZER"]) == "mailto:plans@example.com"
    assert str(parse(ics["ana"])["ATTENDEE"]) == "mailto:ana@example.com"
    assert parse(ics["ana"])["ATTENDEE"].params["CN"] == "Ana"
    assert "ATTENDEE" not in parse(ics["ben"])


def test_the_uid_is_stable_and_the_bytes_deterministic():
    group = members()
    first = invitations("g1", "2031-06", OPTION, group, issued_at=ISSUED)
    again = invitations("g1", "2031-06", OPTION, group, issued_at=ISSUED)
    assert first == again
    assert event_uid("g1", "2031-06") != event_uid("g1", "2031-07") != event_uid("g2", "2031-06")
    assert event_uid("g 1/x", "2031-06") == "outing-g-1-x-2031-06@concierge.groups"


def test_a_calendar_reading_the_invitation_sees_the_outing_as_busy_time():
    body = invitations("g1", "2031-06", OPTION, members(), issued_at=ISSUED)["ana"]
    busy = busy_from_ics(body, SEATTLE, local(0), local(23, 59))
    assert busy == [(local(18).astimezone(UTC), local(21).astimezone(UTC))]

"""Opening hours from free text (real Wikivoyage strings) and the visitability rules, on real-shaped records."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from shared.domains.travel.catalogue.classify import classify, event_season, usable_name, venue_type
from shared.domains.travel.catalogue.hours import Schedule, normalise, parse, typical

MON, TUE, SUN = dt.date(2031, 6, 2), dt.date(2031, 6, 3), dt.date(2031, 6, 8)
AUG_MON = dt.date(2031, 8, 4)


def at(h: int, m: int = 0) -> int:
    return h * 60 + m


@pytest.mark.parametrize("text, date, start, end, open_", [
    ("M-Sa 11AM-10PM, Su 12PM-10PM", SUN, at(11, 30), at(12, 30), False),
    ("M-Sa 11AM-10PM, Su 12PM-10PM", SUN, at(12), at(13), True),
    ("09:00-17:00, closed Mondays", MON, at(10), at(11), False),
    ("09:00-17:00, closed Mondays", TUE, at(10), at(11), True),
    ("Daily 09:00-18:00, closed Tu and public holidays", TUE, at(10), at(11), False),
    ("Tu-Su 10AM-6PM except during August", AUG_MON + dt.timedelta(days=1), at(11), at(12), False),
    ("Tu-Su 10AM-6PM except during August", TUE, at(11), at(12), True),
    ("4PM-2AM daily", MON, at(10), at(11), False),
    ("4PM-2AM daily", MON, at(22), at(23, 30), True),
    ("Daily, Noon-15:00, 19:00-01:30", MON, at(15, 30), at(16), False),
    ("Daily, Noon-15:00, 19:00-01:30", MON, at(19, 30), at(21), True),
    ("Tu-Sa 8a-1p and 4p-7:30p, Su 8a-1p.", SUN, at(16, 30), at(17), False),
    ("11AM-12AM weekdays, 11AM-3AM weekends", SUN, at(23, 30), at(24, 30), True),
    ("Apr-Oct Tu-Su 10AM-6PM, Nov-Mar Th-Su 10AM-3:50PM", dt.date(2031, 12, 2), at(11), at(12), False),
    ("Apr-Oct Tu-Su 10AM-6PM, Nov-Mar Th-Su 10AM-3:50PM", TUE, at(16), at(17), True),
    ("M-Sa, 07ː00-19ː00; Su, 08ː00-13ː30 and 15ː30-19ː00", SUN, at(14), at(15), False),
    ("Open 24 hours", MON, at(3), at(4), True),
    ("10AM-5:30PM daily March-September; 9AM-4:30PM daily October-February", dt.date(2031, 12, 2), at(16), at(17), False),
    ("10AM-5:30PM daily March-September; 9AM-4:30PM daily October-February", TUE, at(16), at(17), True),
])
def test_listed_hours_answer_for_the_date(text, date, start, end, open_):
    s = parse(text)
    assert s is not None, (text, normalise(text))
    assert s.is_open(date, start, end) is open_, (text, s.osm)
    assert Schedule.from_json(s.to_json()) == s


@pytest.mark.parametrize("text", ["Daily till 02:00", "M-Th, 13:00-18:00 (by appointment only)", "11-10",
                                  "One Saturday and Sunday in Mid to Late September", "Tee-off times 6:45AM-3:09PM",
                                  ""])
def test_what_cannot_be_read_safely_is_not_guessed(text):
    assert parse(text) is None


def test_typical_hours_exist_for_every_type():
    from shared.domains.travel.catalogue.classify import VENUE_TYPES

    for vt in VENUE_TYPES:
        assert typical(vt).source == "typical" and typical(vt).open_days()
    assert not typical("museum").is_open(MON, at(11), at(12))  # museums: typically closed on Mondays
    assert not typical("bar").is_open(TUE, at(10), at(11))


def _venue(name, category, description="", sources=("wikivoyage",), section="See", hours=""):
    rec = SimpleNamespace(source=sources[0], evidence={"section": section})
    return SimpleNamespace(name=name, category=category, description=description, hours=hours, cuisines=[],
                           records=[rec], sources=sorted(sources))


def test_visitability_rules():
    assert classify(_venue("Bicycle Repair Collective", "shopping")).kind == "service"
    assert classify(_venue("Consulate General of Japan", "sight")).plannable is False
    fest = classify(_venue("Oktoberfest", "activity", "Beer and music."))
    assert fest.kind == "event" and fest.season_months == (9, 10)
    assert classify(_venue("Fremont Fair", "activity", "A street fair.")).plannable is False  # season unknown
    tp = classify(_venue("Cafe Coffee Day", "food", sources=("travelplanner",)))
    assert not tp.plannable and "uncorroborated" in tp.reason
    assert classify(_venue("Caf\u6106 Burger BC", "food", sources=("travelplanner", "wikivoyage"))).plannable is False
    assert usable_name("\uacbd\ubcf5\uad81") == "\uacbd\ubcf5\uad81"  # an all-Korean name is fine
    assert venue_type("drink", "Zeitgeist Coffee", "") == "cafe" and venue_type("drink", "The Blue Moon Tavern", "") == "pub"
    assert venue_type("sight", "Musée du Louvre", "") == "museum" and venue_type("sight", "Gyeongbokgung", "") == "palace"
    assert event_season("Harvest fest", "held every October", "") == (10,)

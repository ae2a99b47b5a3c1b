"""Free-text opening hours -> Schedule: real Wikivoyage strings, the refusals, and the typical fallbacks."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from shared.domains.travel.catalogue import hours
from shared.domains.travel.catalogue.hours import SCHEMA_VERSION, Schedule, normalise, parse, typical

# 2025-01-06 is a Monday; WEEK[0] .. WEEK[6] = Monday .. Sunday of a January week.
WEEK = [dt.date(2025, 1, 6) + dt.timedelta(days=i) for i in range(7)]
MO, TU, WE, TH, FR, SA, SU = WEEK
JULY_WEDNESDAY = dt.date(2025, 7, 9)
AUGUST_WEDNESDAY = dt.date(2025, 8, 13)
NOVEMBER_TUESDAY = dt.date(2025, 11, 11)
NOVEMBER_FRIDAY = dt.date(2025, 11, 14)
JUNE_TUESDAY = dt.date(2025, 6, 10)


def hm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 60 + int(m)


# (real hours text from the wikivoyage-2014 listings, expected OSM, [(date, "HH:MM", "HH:MM", open?)])
CASES = [
    ("M-Sa 11AM-10PM, Su 12PM-10PM", "Mo-Sa 11:00-22:00, Su 12:00-22:00",
     [(SA, "11:00", "22:00", True), (SU, "11:30", "13:00", False), (SU, "12:00", "22:00", True)]),
    ("Daily, Noon-15:00, 19:00-01:30", "Mo-Su 12:00-15:00,19:00-01:30",
     [(TU, "12:00", "15:00", True), (TU, "15:30", "18:00", False), (TU, "23:00", "25:00", True),
      (TU, "14:00", "20:00", False)]),
    ("Tu-Su 10AM-6PM, closed 1Jan, 1 May, 1 Nov and 25 Dec", "Tu-Su 10:00-18:00",
     [(MO, "11:00", "12:00", False), (TU, "10:00", "18:00", True), (dt.date(2025, 12, 25), "11:00", "12:00", True)]),
    ("Apr-Oct Tu-Su 10AM-6PM, Nov-Mar Th-Su 10AM-3:50PM",
     "Apr-Oct Tu-Su 10:00-18:00, Jan-Mar,Nov-Dec Th-Su 10:00-15:50",
     [(JULY_WEDNESDAY, "16:00", "18:00", True), (NOVEMBER_TUESDAY, "11:00", "12:00", False),
      (NOVEMBER_FRIDAY, "10:00", "15:50", True), (NOVEMBER_FRIDAY, "15:00", "16:30", False)]),
    ("Daily 09:00-18:00, closed Tu and public holidays", "Mo,We-Su 09:00-18:00",
     [(TU, "10:00", "11:00", False), (WE, "09:00", "18:00", True)]),
    ("09:00-17:00, closed Mondays", "Tu-Su 09:00-17:00",
     [(MO, "10:00", "11:00", False), (SU, "09:00", "17:00", True)]),
    ("M-F 11AM-midnight, Sa-Su 10AM-midnight", "Mo-Fr 11:00-24:00, Sa-Su 10:00-24:00",
     [(FR, "22:00", "24:00", True), (SA, "10:00", "11:00", True), (FR, "10:00", "11:00", False)]),
    ("Open 24 hours", "24/7", [(WE, "03:00", "04:00", True), (SU, "00:00", "24:00", True)]),
    ("8AM to Midnight-Open 365 days a year", "Mo-Su 08:00-24:00",
     [(SU, "08:00", "24:00", True), (SU, "07:00", "08:30", False)]),
    ("Lunch: daily 11:30AM-4PM. Dinner: Su-Th 5PM-11PM, F-Sa 5PM-11:30PM",
     "Mo-Su 11:30-16:00, Mo-Th,Su 17:00-23:00, Fr-Sa 17:00-23:30",
     [(MO, "12:00", "13:00", True), (MO, "16:15", "16:45", False), (SA, "23:00", "23:30", True),
      (TH, "23:00", "23:30", False)]),
    ("Tu-Sa 8a-1p and 4p-7:30p, Su 8a-1p.", "Tu-Sa 08:00-13:00,16:00-19:30, Su 08:00-13:00",
     [(WE, "16:00", "19:30", True), (SU, "16:00", "17:00", False), (MO, "09:00", "10:00", False)]),
    ("Mon - Fri 11AM-9PM, Sat - Sun 11AM-5PM", "Mo-Fr 11:00-21:00, Sa-Su 11:00-17:00",
     [(FR, "18:00", "21:00", True), (SA, "18:00", "19:00", False)]),
    ("11AM-12AM weekdays, 11AM-3AM weekends", "Mo-Fr 11:00-24:00, Sa-Su 11:00-03:00",
     [(SA, "24:00", "27:00", True), (FR, "24:00", "25:00", False), (MO, "11:00", "24:00", True)]),
    ("M-Sa, 07\u02d000-19\u02d000; Su, 08\u02d000-13\u02d030 and 15\u02d030-19\u02d000",
     "Mo-Sa 07:00-19:00, Su 08:00-13:30,15:30-19:00",
     [(MO, "07:00", "19:00", True), (SU, "13:00", "14:00", False), (SU, "15:30", "19:00", True)]),
    ("Su-Th 11:30AM-9:30PM, F-Sa 11:30AM-10:30PM", "Mo-Th,Su 11:30-21:30, Fr-Sa 11:30-22:30",
     [(TH, "21:00", "22:00", False), (FR, "21:00", "22:00", True)]),
    ("Wed\u2013Sun, 1PM\u20135PM", "We-Su 13:00-17:00", [(TU, "14:00", "15:00", False), (WE, "13:00", "17:00", True)]),
    ("4PM-2AM daily", "Mo-Su 16:00-02:00", [(MO, "23:00", "26:00", True), (MO, "01:00", "02:00", False)]),
    ("Sun - Thurs 11:30AM-10PM, Fri - Sat 11:30AM-11PM", "Mo-Th,Su 11:30-22:00, Fr-Sa 11:30-23:00",
     [(SU, "21:00", "22:00", True), (SA, "22:00", "23:00", True), (SU, "22:00", "23:00", False)]),
    ("Monday through Saturday 10AM-4PM", "Mo-Sa 10:00-16:00", [(SA, "10:00", "16:00", True), (SU, "11:00", "12:00", False)]),
    ("Every day 12 noon - 10PM", "Mo-Su 12:00-22:00", [(WE, "12:00", "22:00", True)]),
    ("open daily 7 am - 1.30 am", "Mo-Su 07:00-01:30", [(WE, "24:00", "25:30", True)]),
    ("Mon-Sun: 10AM-5:45PM (Closed Thanksgiving and Christmas)", "Mo-Su 10:00-17:45",
     [(SU, "10:00", "17:45", True)]),
    ("W-Th,Sa-Su 11AM-6PM, F 1PM-9PM, closed M-Tu", "We-Th,Sa-Su 11:00-18:00, Fr 13:00-21:00",
     [(MO, "12:00", "13:00", False), (FR, "11:00", "12:00", False), (FR, "13:00", "21:00", True)]),
    ("F-M noon-6PM", "Mo,Fr-Su 12:00-18:00", [(MO, "12:00", "18:00", True), (TU, "12:00", "13:00", False)]),
    ("Su-Th 5-11PM, F-Sa 5PM-1AM", "Mo-Th,Su 17:00-23:00, Fr-Sa 17:00-01:00",
     [(SU, "17:00", "23:00", True), (SA, "23:00", "25:00", True)]),
    ("Mon-Sat 10:30-6:30pm", "Mo-Sa 10:30-18:30", [(SA, "10:30", "18:30", True)]),
    ("W-Su 12-6PM", "We-Su 12:00-18:00", [(WE, "12:00", "18:00", True)]),
    ("Daily 10AM-8PM (Sundays 11AM-7PM), closed Jan 1, May 1, Dec 25", "Mo-Sa 10:00-20:00, Su 11:00-19:00",
     [(SA, "10:00", "20:00", True), (SU, "10:00", "11:00", False), (SU, "11:00", "19:00", True)]),
    ("Mo, Tu closed, We, Fr, Sa, Su 11AM - 6PM, Th 11AM - 9PM", "We,Fr-Su 11:00-18:00, Th 11:00-21:00",
     [(MO, "12:00", "13:00", False), (TU, "12:00", "13:00", False), (TH, "18:00", "21:00", True)]),
    ("8AM-6PM daily Apr-Oct, 8AM-4:30PM daily Nov-Mar",
     "Apr-Oct Mo-Su 08:00-18:00, Jan-Mar,Nov-Dec Mo-Su 08:00-16:30",
     [(JUNE_TUESDAY, "16:30", "18:00", True), (NOVEMBER_TUESDAY, "16:30", "18:00", False)]),
    ("Tu-Sa, 12:15-14:00, 19:15-23:00, Closed Su-M and Aug", "Jan-Jul,Sep-Dec Tu-Sa 12:15-14:00,19:15-23:00",
     [(JULY_WEDNESDAY, "19:15", "23:00", True), (AUGUST_WEDNESDAY, "19:30", "20:00", False)]),
    ("Lunch, 12:15-14:30; dinner, 19:30-22:30", "Mo-Su 12:15-14:30, Mo-Su 19:30-22:30",
     [(SU, "12:15", "14:30", True), (SU, "14:00", "20:00", False)]),
    ("Daily except Mondays 10AM-5PM", "Tu-Su 10:00-17:00", [(MO, "11:00", "12:00", False), (TU, "10:00", "17:00", True)]),
    ("M-F 8AM-4:30PM, Sa-Su and Holidays 10AM-5PM", "Mo-Fr 08:00-16:30, Sa-Su 10:00-17:00",
     [(SA, "10:00", "17:00", True)]),
    ("24/7", "24/7", [(MO, "00:00", "24:00", True)]),
    ("10AM-5:30PM daily March-September; 9AM-4:30PM daily October-February",
     "Mar-Sep Mo-Su 10:00-17:30, Jan-Feb,Oct-Dec Mo-Su 09:00-16:30",
     [(JUNE_TUESDAY, "16:30", "17:30", True), (NOVEMBER_TUESDAY, "16:30", "17:30", False),
      (NOVEMBER_TUESDAY, "09:00", "16:30", True)]),
]


@pytest.mark.parametrize("text,osm,checks", CASES, ids=[c[0][:40] for c in CASES])
def test_real_strings(text, osm, checks):
    assert normalise(text) == osm
    schedule = parse(text)
    assert schedule is not None and schedule.source == "listed" and schedule.osm == osm
    for date, start, end, expected in checks:
        assert schedule.is_open(date, hm(start), hm(end)) is expected, (date, start, end)


@pytest.mark.parametrize("text", [
    None, "", "   ", "varies", "gibberish qwerty", "By appointment only", "M-Th, 13:00-18:00 (by appointment only)",
    "Tee-off times 6:45AM-3:09PM", "Daily till 02:00", "Open at 11AM daily", "Till 02\u02d000",
    "Memorial Day-Labor Day: 10AM-7PM daily, Labor Day-Memorial Day: 10AM-5PM daily",
    "10AM - sunset", "Daily, dawn to dusk.", "M-F 10AM-4PM, third Sa of the month 9AM-3PM",
    "11AM-10AM", "M-Th 10AM-8AM", "M - F 4-2 Sat-Sun 11-2", "Mon - Sat 11AM-8:30", "5PM-late", "5:30PM-close",
    "Closed Tuesdays", "Closed Sa, Su", "Second Su in June", "June 21 - August 15: 9:30AM-6PM",
    "Sa 1PM, Su 1PM and 3:30PM", "12PM-2AM daily, Happy Hour: 4PM-8PM daily",
    "Breakfast and lunch M-F 8AM-4PM, brunch Sa-Su 10AM-4PM, dinner 6-11PM",
    "Daily 9AM-5PM, 10AM-4PM Jun-Aug",  # a month range that binds to only some rules
    "Daily 9AM-5PM, Jun-Aug 9AM-8PM",  # override or addition? rejected
    "Daily, closed Mondays, 10-17",
    "Mon, Wed - Fri 12am - 6pm",  # 12am is a typo for noon
])
def test_refuses_what_it_does_not_understand(text):
    assert parse(text) is None


def test_past_midnight_belongs_to_the_opening_day():
    bar = parse("M-F 3PM-2AM, Sa-Su 7PM-2AM")
    assert bar.ranges_on(FR) == ((hm("15:00"), hm("26:00")),)
    assert bar.ranges_on(SA) == ((hm("19:00"), hm("26:00")),)  # not also 00:00-02:00 from Friday night
    assert bar.is_open(FR, hm("23:30"), hm("25:30"))
    # a closed day does not cut the previous night short
    closed_tuesday = parse("4PM-2AM daily, closed Tu")
    assert closed_tuesday.ranges_on(MO) == ((960, 1560),)
    assert closed_tuesday.ranges_on(TU) == ()


def test_months_and_except_month():
    museum = parse("Daily 10AM-6PM except during August")
    assert museum.osm == "Jan-Jul,Sep-Dec Mo-Su 10:00-18:00"
    assert museum.is_open(JULY_WEDNESDAY, hm("10:00"), hm("18:00"))
    assert not museum.is_open(AUGUST_WEDNESDAY, hm("11:00"), hm("12:00"))
    assert museum.ranges_on(dt.date(2030, 8, 31)) == ()
    assert len(museum.months) == 12 and all(len(m) == 7 for m in museum.months)


def test_closed_days_forms():
    for text in ("Tu-Su 5:30PM-10:30PM, M closed", "Mondays closed, Tu-Su 17:30-22:30",
                 "Tu-Su 5:30PM-10:30PM, closed on Mondays"):
        schedule = parse(text)
        assert schedule is not None, text
        assert schedule.open_days() == {1, 2, 3, 4, 5, 6}, text


def test_is_open_needs_one_opening():
    lunch_and_dinner = parse("M-Sa noon-14:40 & 19:30-23:00")
    assert lunch_and_dinner.is_open(MO, hm("12:00"), hm("14:40"))
    assert not lunch_and_dinner.is_open(MO, hm("14:00"), hm("20:00"))
    assert lunch_and_dinner.open_days() == {0, 1, 2, 3, 4, 5}


@pytest.mark.parametrize("venue_type", [
    "museum", "gallery", "landmark", "religious", "palace", "park", "garden", "beach", "viewpoint", "nature",
    "zoo_aquarium", "market", "neighbourhood", "tour", "theatre", "live_music", "cinema", "sports", "activity",
    "spa", "shop", "bookshop", "restaurant", "cafe", "bakery", "dessert", "bar", "pub", "wine_bar", "club",
    "brewery", "event", "service", "lodging",
])
def test_typical_covers_every_venue_type(venue_type):
    assert venue_type in hours.TYPICAL_OSM
    schedule = typical(venue_type)
    assert schedule.source == "typical" and schedule.osm == ""
    assert schedule.open_days()


def test_typical_hours_are_the_documented_ones():
    assert typical("museum").open_days() == {1, 2, 3, 4, 5, 6}  # closed Monday by default
    assert typical("museum").is_open(TU, hm("10:00"), hm("17:00"))
    assert typical("park").is_open(SU, hm("07:00"), hm("21:00"))
    restaurant = typical("restaurant")
    assert restaurant.is_open(WE, hm("12:00"), hm("13:30")) and restaurant.is_open(WE, hm("19:00"), hm("21:00"))
    assert not restaurant.is_open(WE, hm("15:00"), hm("16:00"))
    assert typical("cafe").ranges_on(MO) == ((hm("07:30"), hm("17:00")),)
    assert typical("bakery").ranges_on(MO) == ((hm("07:00"), hm("18:00")),)
    assert typical("bar").ranges_on(FR) == ((hm("16:00"), hm("25:00")),)
    assert typical("pub").ranges_on(FR) == ((hm("16:00"), hm("25:00")),)
    assert typical("club").ranges_on(SA) == ((hm("22:00"), hm("28:00")),)
    assert typical("shop").ranges_on(SA) == ((hm("10:00"), hm("19:00")),)
    assert typical("shop").ranges_on(SU) == ((hm("11:00"), hm("18:00")),)
    assert typical("theatre").ranges_on(TH) == ((hm("18:00"), hm("23:30")),)
    assert typical("live_music").ranges_on(TH) == ((hm("18:00"), hm("23:30")),)
    assert typical("lodging").is_open(MO, 0, 1440)


def test_typical_falls_back_by_category_then_generic():
    assert typical("unknown", "food").months == typical("restaurant").months
    assert typical(None, "drink").months == typical("bar").months
    assert typical(None, "shopping").months == typical("shop").months
    assert typical(None, "sight").months == typical("landmark").months
    generic = typical(None, None)
    assert generic.source == "typical" and generic.is_open(SU, hm("09:00"), hm("18:00"))
    assert typical("mystery", "mystery").months == generic.months


def test_json_round_trip_collapses_identical_months():
    weekly = parse("M-Sa 11AM-10PM, Su 12PM-10PM")
    body = weekly.to_json()
    assert body["v"] == SCHEMA_VERSION and "week" in body and "months" not in body
    assert Schedule.from_json(json.loads(json.dumps(body))) == weekly

    seasonal = parse("Apr-Oct Tu-Su 10AM-6PM, Nov-Mar Th-Su 10AM-3:50PM")
    body = seasonal.to_json()
    assert "months" in body and len(body["months"]) == 12
    assert Schedule.from_json(json.loads(json.dumps(body))) == seasonal

    assumed = typical("bar")
    assert Schedule.from_json(assumed.to_json()) == assumed


def test_from_json_rejects_other_versions():
    with pytest.raises(ValueError):
        Schedule.from_json({"v": "hours-v0", "week": [[]] * 7})


@pytest.mark.parametrize("text, rule", [
    ("The Art Walk takes place on the first Thursday of every month. Galleries are open until 9PM.", (1, 3)),
    ("A free monthly self guided tour, held on the second Thursday of every month, to art galleries", (2, 3)),
    ("Cafe Philo meets on the first Wednesday of each month upstairs at the Cafe de Flore.", (1, 2)),
    ("The club meets on the last Sunday of the month.", (-1, 6)),
    # a venue with a monthly extra is open on its usual days: not a monthly occasion
    ("Coffeehouse and gallery. The first Saturday of every month, holds an art opening from 6PM-9PM.", None),
    ("Open daily; free admission on the first Saturday of each month.", None),
])
def test_a_monthly_occasion_is_read_from_the_description(text, rule):
    assert hours.monthly_occurrence(text) == rule


def test_a_monthly_schedule_opens_on_its_dates_only_and_survives_json():
    walk = hours.only_on(typical("landmark"), (1, 3))  # the first Thursday
    assert walk.ranges_on(dt.date(2026, 12, 3)) and walk.source == "description"
    assert not walk.ranges_on(dt.date(2026, 12, 10))  # the second Thursday
    assert not walk.ranges_on(dt.date(2026, 12, 19))  # a Saturday
    back = Schedule.from_json(json.loads(json.dumps(walk.to_json())))
    assert back == walk
    last = hours.only_on(typical("landmark"), (-1, 6))
    assert last.ranges_on(dt.date(2026, 12, 27)) and not last.ranges_on(dt.date(2026, 12, 20))

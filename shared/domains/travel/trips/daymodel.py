"""The shape of a travel day: which stops it has, when each may start, and how long each lasts.

A day runs from a pace-dependent start to a pace-dependent end. Meals are first-class stops: lunch in the
local lunch window and dinner at the local dinner hour (local_times.yaml, per country); breakfast or coffee
opens the day when the traveller's tags ask for it, and a night stop follows dinner when they include
nightlife, live music, cocktails, beer, wine or theatre. Between them sit visits, more of them at a faster
pace. Every venue type has a visit duration (shortest, usual, longest): the scheduler starts from the usual
one and lets a stay stretch to the longest rather than leave the traveller idle.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

LOCAL_TIMES_FILE = Path(__file__).with_name("local_times.yaml")

STOP_KINDS = ("breakfast", "visit", "lunch", "treat", "dinner", "night", "break")  # a break fills a long wait
KIND_DAY_PART = {"breakfast": "morning", "lunch": "afternoon", "treat": "afternoon", "dinner": "evening",
                 "night": "evening"}

# pace -> (day start, dinner ends the day by, visits before lunch, visits after lunch)
PACES = {"slow": ("09:30", "21:30", 1, 2), "moderate": ("09:00", "22:00", 1, 2), "fast": ("08:30", "22:00", 2, 3)}
NIGHT_WINDOW = ("21:30", "23:15")
TREAT_WINDOW = ("14:30", "17:30")
BREAKFAST_BEFORE_VISITS = 30   # minutes after the day's start before a morning visit may begin, with breakfast
MORNING_VISITS_END = "12:45"      # a morning visit starts by then, or it is an afternoon visit
AFTERNOON_VISITS = ("13:00", "18:30")

# Tags that ask for a stop of their own: breakfast, an afternoon treat, a night out.
BREAKFAST_TAGS = {"coffee", "tea", "bakery", "brunch"}
TREAT_TAGS = {"dessert"}
NIGHT_TAGS = {"nightlife", "live_music", "cocktails", "beer", "wine", "theatre"}

# venue type -> (shortest, usual, longest) minutes
DURATIONS: dict[str, tuple[int, int, int]] = {
    "museum": (75, 120, 180), "gallery": (45, 75, 120), "landmark": (30, 60, 90), "religious": (30, 45, 75),
    "palace": (75, 120, 180), "park": (60, 90, 150), "garden": (45, 75, 120), "beach": (60, 105, 180),
    "viewpoint": (30, 45, 75), "nature": (90, 150, 210), "zoo_aquarium": (90, 150, 210), "market": (45, 75, 120),
    "neighbourhood": (60, 90, 150), "tour": (60, 120, 180), "theatre": (90, 150, 180), "live_music": (90, 120, 180),
    "cinema": (110, 120, 150), "sports": (120, 150, 180), "activity": (60, 90, 150), "spa": (90, 120, 180),
    "shop": (30, 45, 75), "bookshop": (30, 45, 75), "restaurant": (60, 75, 100), "cafe": (30, 45, 60),
    "bakery": (20, 30, 45), "dessert": (20, 30, 45), "bar": (60, 75, 120), "pub": (60, 90, 120),
    "wine_bar": (60, 75, 120), "club": (90, 120, 180), "brewery": (60, 90, 120), "event": (90, 120, 180),
}
DINNER_DURATION = (75, 90, 120)
DEFAULT_DURATION = (45, 75, 120)


def minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def clock(total_minutes: int) -> str:
    return f"{(total_minutes // 60) % 24:02d}:{total_minutes % 60:02d}"


@dataclass(frozen=True)
class LocalTimes:
    country: str
    lunch: tuple[int, int]
    lunch_at: int
    dinner: tuple[int, int]
    dinner_at: int

    def windows(self) -> dict[str, list[str]]:
        return {"lunch": [clock(self.lunch[0]), clock(self.lunch[1])],
                "dinner": [clock(self.dinner[0]), clock(self.dinner[1])]}


@lru_cache(maxsize=1)
def _local_data() -> dict:
    return yaml.safe_load(LOCAL_TIMES_FILE.read_text())


@lru_cache(maxsize=256)
def local_times(city_id: str) -> LocalTimes:
    data = _local_data()
    country = next((c for c, cities in data["cities"].items() if city_id in cities), data["default_country"])
    t = data["countries"][country]
    return LocalTimes(country, (minutes(t["lunch"][0]), minutes(t["lunch"][1])), minutes(t["lunch_at"]),
                      (minutes(t["dinner"][0]), minutes(t["dinner"][1])), minutes(t["dinner_at"]))


@dataclass(frozen=True)
class StopSpec:
    """One stop of the day template: what kind it is and when it may start (minutes after midnight)."""
    kind: str
    earliest: int
    latest: int
    target: int | None = None     # meals: when the plan aims to sit down

    @property
    def day_part(self) -> str:
        if self.kind in KIND_DAY_PART:
            return KIND_DAY_PART[self.kind]
        return "morning" if self.latest <= minutes(MORNING_VISITS_END) else "afternoon"


def day_template(pace: str, tag_names: set[str], local: LocalTimes) -> list[StopSpec]:
    """The stops of one day, in the order they happen."""
    start, end, before_lunch, after_lunch = PACES[pace]
    day_start, day_end = minutes(start), minutes(end)
    stops: list[StopSpec] = []
    visits_from = day_start
    if tag_names & BREAKFAST_TAGS:  # breakfast starts the day: the first visit comes after it
        stops.append(StopSpec("breakfast", day_start, day_start + 60))
        before_lunch = max(1, before_lunch)
        visits_from = day_start + BREAKFAST_BEFORE_VISITS
    stops += [StopSpec("visit", visits_from, minutes(MORNING_VISITS_END)) for _ in range(before_lunch)]
    stops.append(StopSpec("lunch", local.lunch[0], local.lunch[1], local.lunch_at))
    first, last = minutes(AFTERNOON_VISITS[0]), minutes(AFTERNOON_VISITS[1])
    stops += [StopSpec("visit", first, last) for _ in range(after_lunch)]
    if tag_names & TREAT_TAGS:
        stops.append(StopSpec("treat", minutes(TREAT_WINDOW[0]), minutes(TREAT_WINDOW[1])))
    dinner_latest = min(local.dinner[1], day_end - DINNER_DURATION[1])
    stops.append(StopSpec("dinner", local.dinner[0], max(local.dinner[0], dinner_latest), local.dinner_at))
    if tag_names & NIGHT_TAGS:
        stops.append(StopSpec("night", minutes(NIGHT_WINDOW[0]), minutes(NIGHT_WINDOW[1])))
    return stops


def duration(venue_type: str | None, kind: str) -> tuple[int, int, int]:
    if kind == "dinner":
        return DINNER_DURATION
    return DURATIONS.get(venue_type or "", DEFAULT_DURATION)


def weekday_name(date: dt.date) -> str:
    return date.strftime("%A")

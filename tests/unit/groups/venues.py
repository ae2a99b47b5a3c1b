"""A small synthetic neighbourhood for the group tests: restaurants, bars, treats and open spaces within a
short walk of each other in Seattle, with the evidence (tags, descriptions, prices, hours) each rule reads.

The outing window used throughout is a Saturday evening, 18:00-21:00 local: two stops, dinner from 18:00 and a
second stop from 19:40 (spectrum.plan_slots)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from shared.domains.groups.spectrum import Member, OutingWindow
from shared.domains.travel.catalogue.hours import parse
from shared.engine.serving.types import Candidate

SEATTLE = ZoneInfo("America/Los_Angeles")
BASE = (47.6100, -122.3300)
CATEGORY = {"restaurant": "food", "cafe": "food", "dessert": "food", "bakery": "food", "bar": "drink", "pub": "drink",
            "wine_bar": "drink", "brewery": "drink", "park": "sight", "viewpoint": "sight", "neighbourhood": "sight",
            "museum": "sight", "sports": "activity", "activity": "activity"}


def venue(vid: str, name: str, venue_type: str, price: int | None, tags=(), text: str = "", area: str = "downtown",
          at: tuple[float, float] = (0.0, 0.0), hours: str | None = None, quality: float = 0.6) -> Candidate:
    """`at` is an offset from BASE in thousandths of a degree (about 110 m north, 75 m east)."""
    opening = parse(hours).to_json() if hours else None
    if hours and opening is None:
        raise ValueError(f"test hours do not parse: {hours}")
    return Candidate(id=vid, name=name, category=CATEGORY[venue_type], tags=tuple(tags), quality=quality,
                     price_level=price, lat=BASE[0] + at[0] / 1000, lon=BASE[1] + at[1] / 1000,
                     extra={"venue_type": venue_type, "description": text, "area": area, "plannable": True,
                            "visit_kind": "venue", "address": f"{100 + len(vid)} Pike St",
                            "opening": opening})


VENUES = [
    # dinners
    venue("r_steak", "Prime Cut Steakhouse", "restaurant", 4, ["upscale", "splurge"], "dry-aged steaks, step-free entrance",
          quality=0.9),
    venue("r_green", "Green Table", "restaurant", 2, ["vegetarian-friendly", "cozy"],
          "plant-based kitchen with a vegan menu, step-free entrance", "capitol_hill", (1, 1)),
    venue("r_pizza", "Slice Club", "restaurant", 1, ["casual"], "wood-fired pizza, vegetarian pies", at=(0.5, 0.5)),
    venue("r_thai", "Bangkok Corner", "restaurant", 2, ["global-cuisine"], "thai curries, vegetarian menu",
          "capitol_hill", (1.5, 0)),
    venue("r_ramen", "Noodle Lane", "restaurant", 2, ["casual"], "ramen and vegetarian ramen", at=(-1, 0.5)),
    venue("r_taco", "Taqueria Sol", "restaurant", 1, ["street-food"], "tacos al pastor, veggie tacos, halal chicken",
          "belltown", (-1, -1)),
    venue("r_dumpling", "Dumpling House", "restaurant", 1, ["global-cuisine"], "dumplings and noodles", "belltown",
          (-1.5, -0.5)),
    venue("r_truck", "Curry Truck", "restaurant", 0, ["street-food", "budget"], "food truck curries, vegetarian thali",
          at=(0, -1)),
    venue("r_deli", "Midday Deli", "restaurant", 1, ["vegetarian-friendly"], "vegetarian sandwiches",
          at=(0.2, 0.2), hours="Daily 11:00-15:00"),
    venue("r_sushi", "Omakase Ten", "restaurant", 4, ["upscale"], "sushi omakase, vegetarian omakase on request",
          "capitol_hill", (1.2, 1.5), quality=0.95),
    # second stops
    venue("b_cocktail", "The Velvet Room", "bar", 2, ["cocktails", "nightlife"], "cocktail lounge, step-free entrance",
          "capitol_hill", (1.2, 0.8)),
    venue("b_brewery", "Hop Yard", "brewery", 2, ["craft-beer", "lively"], "brewery taproom", "belltown", (-1.2, -0.8)),
    venue("b_pub", "The Anchor", "pub", 1, ["casual"], "neighbourhood pub", at=(0.3, -0.3)),
    venue("b_wine", "Cellar 9", "wine_bar", 3, ["wine", "romantic"], "natural wine bar", "capitol_hill", (0.8, 1.2)),
    venue("t_gelato", "Gelato Lab", "dessert", 1, ["sweets"], "gelato and vegan sorbet", at=(0.4, 0)),
    venue("p_park", "Pine Park", "park", None, ["outdoors", "free"], "a small park, step-free paths", at=(0.6, -0.6)),
    venue("p_view", "Harbor Overlook", "viewpoint", None, ["scenic", "waterfront"], "a viewpoint over the bay",
          "belltown", (-0.8, -1.2)),
    venue("p_stroll", "Market Lanes", "neighbourhood", None, ["local-favourite"], "alleys of small shops",
          at=(-0.4, 0.4)),
    venue("s_bowling", "Lucky Strike Lanes", "sports", 2, ["active", "groups"], "bowling alley with a bar",
          "sodo", (-1.4, 1.4)),
    # never open in the evening window
    venue("m_museum", "City Museum", "museum", 2, ["museum", "historic"], "history museum", at=(0.1, 0.6)),
]
BY_ID = {v.id: v for v in VENUES}


def saturday_evening() -> OutingWindow:
    return OutingWindow(dt.datetime(2031, 6, 7, 18, 0, tzinfo=SEATTLE), dt.datetime(2031, 6, 7, 21, 0, tzinfo=SEATTLE),
                        SEATTLE)


def members(**changes) -> list[Member]:
    """Four friends; `changes` maps a user id to field overrides, e.g. members(ben={"diet": {"vegetarian"}})."""
    base = [
        Member("ana", {"pizza": 1.0, "cocktails": 0.6}, budget=80, home=(47.640, -122.330), seats=0, name="Ana"),
        Member("ben", {"beer": 1.0, "parks": 0.5}, budget=80, home=(47.650, -122.320), seats=3, name="Ben"),
        Member("cara", {"thai": 1.0, "views": 0.6}, budget=80, home=(47.600, -122.300), seats=0, name="Cara"),
        Member("dev", {"ramen": 0.8, "wine": 0.7}, budget=80, home=(47.620, -122.350), seats=1, name="Dev"),
    ]
    out = []
    for m in base:
        fields = {k: (frozenset(v) if k in ("diet", "access") else v) for k, v in changes.get(m.user_id, {}).items()}
        out.append(Member(**{**m.__dict__, **fields}))
    return out

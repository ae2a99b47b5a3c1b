"""Stage 1 of planning: which city, whether it is seeded, and the trip's dates."""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from functools import lru_cache

from shared.domains.errors import InvalidRequest

log = logging.getLogger(__name__)
SEEDED_CITY_TTL_S = 60
_seeded_cities: dict[str, tuple[float, str]] = {}


class UnknownCity(InvalidRequest):
    def __init__(self, city: str):
        super().__init__(f"unknown city {city!r}: no catalogue or source covers it", "city")


@dataclass(frozen=True)
class Destination:
    city_id: str
    city_name: str
    seeded: bool
    dates: tuple[dt.date, ...]


@lru_cache(maxsize=1)
def _known_city_ids() -> frozenset[str]:
    from shared.domains.travel.catalogue.cities import known_cities
    from shared.settings import get_settings

    try:
        return frozenset(known_cities(get_settings().data_dir))
    except Exception:
        log.warning("could not list known cities", exc_info=True)
        return frozenset()


def city_slug(name: str) -> str:
    from shared.domains.travel.catalogue.normalise import slugify

    return slugify(name)


async def resolve(conn, city: str, start: dt.date, end: dt.date) -> Destination:
    """The city and dates of a request. Unknown cities raise UnknownCity (naming `city`). A seeded city is
    remembered for a minute per process (seeding only ever adds cities)."""
    dates = tuple(start + dt.timedelta(days=i) for i in range((end - start).days + 1))
    cid = city_slug(city)
    hit = _seeded_cities.get(cid)
    if hit and time.monotonic() - hit[0] < SEEDED_CITY_TTL_S:
        return Destination(cid, hit[1], True, dates)
    row = await conn.fetchrow("SELECT id, name, seeded_at, venue_count FROM cities WHERE id = $1", cid)
    if row is not None and row["seeded_at"] is not None and row["venue_count"] > 0:
        _seeded_cities[cid] = (time.monotonic(), row["name"])
        return Destination(cid, row["name"], True, dates)
    if row is not None or cid in _known_city_ids():
        return Destination(cid, row["name"] if row else city.strip().title(), False, dates)
    raise UnknownCity(city)

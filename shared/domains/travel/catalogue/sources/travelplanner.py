"""TravelPlanner reference database (MIT): top attractions with coordinates, restaurants with cuisines, cost, rating.

Its attraction list is what a planning benchmark considers a city's must-sees: tourist-facing evidence. There is no
free text, so these records rarely carry vibe on their own; they corroborate and add structured signals.
"""
from __future__ import annotations

import csv
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from shared.domains.travel.catalogue.normalise import clean_text, parse_float, price_level_from_amount, valid_coords
from shared.domains.travel.catalogue.records import VenueRecord
from shared.domains.travel.catalogue.sources.base import Source


@lru_cache(maxsize=8)
def _rows(path: str, mtime: float) -> tuple[dict, ...]:
    with open(path, newline="", encoding="utf-8") as fh:
        return tuple(csv.DictReader(fh))


class TravelPlannerSource(Source):
    name = "travelplanner"
    kind = "venues"

    @property
    def attractions(self) -> Path:
        return self.data_dir / "venues" / "travelplanner" / "attractions" / "attractions.csv"

    @property
    def restaurants(self) -> Path:
        return self.data_dir / "venues" / "travelplanner" / "restaurants" / "clean_restaurant_2022.csv"

    def _files(self) -> list[Path]:
        return [p for p in (self.attractions, self.restaurants) if p.exists()]

    def available(self) -> str | None:
        if not self._files():
            return f"neither {self.attractions} nor {self.restaurants} exists"
        return None

    @staticmethod
    def _load(path: Path) -> tuple[dict, ...]:
        return _rows(str(path), path.stat().st_mtime)

    def city_names(self) -> set[str]:
        return {clean_text(r.get("City")) for p in self._files() for r in self._load(p) if r.get("City")}

    def read(self, city) -> Iterator[VenueRecord]:
        wanted = set(city.names_for(self.name))
        if self.attractions.exists():
            for i, row in enumerate(self._load(self.attractions)):
                if clean_text(row.get("City")) not in wanted:
                    continue
                lat, lon = valid_coords(parse_float(row.get("Latitude")), parse_float(row.get("Longitude")))
                yield VenueRecord(
                    source=self.name,
                    source_id=f"attraction:{clean_text(row.get('City'))}:{clean_text(row.get('Name'))}",
                    city_id=city.id,
                    name=clean_text(row.get("Name")),
                    category="sight",
                    raw_category="attraction",
                    address=clean_text(row.get("Address")),
                    lat=lat,
                    lon=lon,
                    url=clean_text(row.get("Website")),
                    phone=clean_text(row.get("Phone")),
                    evidence={"kind": "attraction", "listed_as": clean_text(row.get("City"))},
                )
        if self.restaurants.exists():
            for row in self._load(self.restaurants):
                if clean_text(row.get("City")) not in wanted:
                    continue
                cost = parse_float(row.get("Average Cost"))
                rating = parse_float(row.get("Aggregate Rating"))
                cuisines = [c.strip() for c in (row.get("Cuisines") or "").split(",") if c.strip()]
                yield VenueRecord(
                    source=self.name,
                    source_id=f"restaurant:{clean_text(row.get('City'))}:{clean_text(row.get('Name'))}",
                    city_id=city.id,
                    name=clean_text(row.get("Name")),
                    category="food",
                    raw_category="restaurant",
                    price_level=price_level_from_amount(cost, "food") if cost is not None else None,
                    price_text=f"average cost ${cost:.0f}" if cost is not None else "",
                    rating=rating,
                    cuisines=cuisines,
                    evidence={"kind": "restaurant", "average_cost": cost, "aggregate_rating": rating,
                              "cuisines": cuisines, "listed_as": clean_text(row.get("City"))},
                )

"""Michelin Guide starred restaurants (MIT-licensed scrape): tourist-facing prominence and splurge venues."""
from __future__ import annotations

import csv
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from shared.domains.travel.catalogue.normalise import clean_text, parse_float, valid_coords
from shared.domains.travel.catalogue.records import VenueRecord
from shared.domains.travel.catalogue.sources.base import Source

FILENAME = "michelin_my_maps_2024-06-03_with_descriptions.csv"


@lru_cache(maxsize=2)
def _rows(path: str, mtime: float) -> tuple[dict, ...]:
    with open(path, newline="", encoding="utf-8") as fh:
        return tuple(csv.DictReader(fh))


def _city_of(location: str) -> str:
    # "San Francisco, USA" -> "San Francisco"; "Paris, France" -> "Paris"
    return clean_text(location.rsplit(",", 1)[0]) if location else ""


class MichelinSource(Source):
    name = "michelin"
    kind = "venues"

    @property
    def path(self) -> Path:
        return self.data_dir / "venues" / "michelin" / FILENAME

    def available(self) -> str | None:
        return None if self.path.exists() else f"{self.path} not found"

    def _load(self) -> tuple[dict, ...]:
        return _rows(str(self.path), self.path.stat().st_mtime)

    def city_names(self) -> set[str]:
        return {_city_of(r.get("Location", "")) for r in self._load() if r.get("Location")}

    def read(self, city) -> Iterator[VenueRecord]:
        wanted = set(city.names_for(self.name))
        for row in self._load():
            if _city_of(row.get("Location", "")) not in wanted:
                continue
            lat, lon = valid_coords(parse_float(row.get("Latitude")), parse_float(row.get("Longitude")))
            price = clean_text(row.get("Price"))
            award = clean_text(row.get("Award"))
            stars = int(award.split()[0]) if award[:1].isdigit() else 0
            yield VenueRecord(
                source=self.name,
                source_id=clean_text(row.get("Url")) or f"{row.get('Location')}:{row.get('Name')}",
                city_id=city.id,
                name=clean_text(row.get("Name")),
                category="food",
                raw_category="restaurant",
                description=clean_text(row.get("Description")),
                address=clean_text(row.get("Address")),
                price_text=price,
                price_level=min(4, len(price)) if price and len(set(price)) == 1 else None,
                lat=lat,
                lon=lon,
                url=clean_text(row.get("WebsiteUrl")),
                phone=clean_text(row.get("PhoneNumber")),
                cuisines=[c.strip() for c in (row.get("Cuisine") or "").split(",") if c.strip()],
                evidence={"award": award, "stars": stars, "green_star": row.get("GreenStar") == "1",
                          "facilities": clean_text(row.get("FacilitiesAndServices")),
                          "guide_url": clean_text(row.get("Url")), "description": clean_text(row.get("Description"))},
            )

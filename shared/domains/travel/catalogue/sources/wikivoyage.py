"""Wikivoyage listings (2014 snapshot, CC BY-SA 3.0): venues with editors' descriptions, hours, prices, coordinates.

A listing on the city's main page (no district) is guidebook prominence: it is kept as evidence for the overrated
detector. The revision id stays with each record for attribution.
"""
from __future__ import annotations

import csv
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from shared.domains.travel.catalogue.normalise import (
    canonical_category,
    clean_text,
    parse_float,
    parse_price_level,
    valid_coords,
)
from shared.domains.travel.catalogue.records import VenueRecord
from shared.domains.travel.catalogue.sources.base import Source

VENUE_COLUMNS = ("see", "do", "buy", "eat", "drink", "sleep")


@lru_cache(maxsize=4)
def _rows(path: str, mtime: float) -> tuple[dict, ...]:
    with open(path, newline="", encoding="utf-8") as fh:
        return tuple(csv.DictReader(fh))


class WikivoyageSource(Source):
    name = "wikivoyage"
    kind = "venues"

    @property
    def folder(self) -> Path:
        return self.data_dir / "venues" / "wikivoyage-2014"

    def available(self) -> str | None:
        if not (self.folder / "listings.csv").exists():
            return f"{self.folder / 'listings.csv'} not found"
        return None

    def _listings(self) -> tuple[dict, ...]:
        path = self.folder / "listings.csv"
        return _rows(str(path), path.stat().st_mtime)

    def city_names(self) -> set[str]:
        counts = self.folder / "per_city_counts.csv"
        if counts.exists():
            with open(counts, newline="", encoding="utf-8") as fh:
                return {
                    r["city"] for r in csv.DictReader(fh)
                    if sum(int(r.get(c) or 0) for c in VENUE_COLUMNS) > 0
                }
        return {r["city"] for r in self._listings() if canonical_category(r.get("category"))}

    def read(self, city) -> Iterator[VenueRecord]:
        wanted = set(city.names_for(self.name))
        for row in self._listings():
            if row["city"] not in wanted:
                continue
            category = canonical_category(row.get("category"))
            lat, lon = valid_coords(parse_float(row.get("lat")), parse_float(row.get("lon")))
            price_text = clean_text(row.get("price"))
            yield VenueRecord(
                source=self.name,
                source_id=f"{row.get('page', '')}#{clean_text(row.get('name'))}",
                city_id=city.id,
                name=clean_text(row.get("name")),
                category=category,
                raw_category=row.get("category", ""),
                description=clean_text(row.get("description")),
                address=clean_text(row.get("address")),
                hours=clean_text(row.get("hours")),
                price_text=price_text,
                price_level=parse_price_level(price_text, category),
                lat=lat,
                lon=lon,
                url=clean_text(row.get("url")),
                phone=clean_text(row.get("phone")),
                evidence={
                    "page": row.get("page", ""),
                    "district": row.get("district", ""),
                    "section": row.get("section", ""),
                    "subsection": row.get("subsection", ""),
                    "main_page": not row.get("district"),
                    "revision_id": row.get("revision_id", ""),
                    "description": clean_text(row.get("description")),
                    "price": price_text,
                },
            )

"""Google Places (New) as a venue source: the fallback for a city no file source covers.

It only runs when asked for (`--source places`) and a key is configured; every lookup goes through the cache-first
PlacesClient, so re-seeding a city within the cache TTL costs no calls. Aggregate ratings and review counts are
tourist-facing evidence for the overrated detector.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from shared.adapters.secrets import get_secret
from shared.domains.travel.catalogue.normalise import clean_text, valid_coords
from shared.domains.travel.catalogue.records import VenueRecord
from shared.domains.travel.catalogue.sources.base import Source
from shared.settings import get_settings

QUERIES = (
    "top sights in {city}", "museums in {city}", "parks in {city}", "restaurants in {city}",
    "bars in {city}", "cafes in {city}", "things to do in {city}", "shops in {city}",
)
PRICE_LEVELS = {
    "PRICE_LEVEL_FREE": 0, "PRICE_LEVEL_INEXPENSIVE": 1, "PRICE_LEVEL_MODERATE": 2,
    "PRICE_LEVEL_EXPENSIVE": 3, "PRICE_LEVEL_VERY_EXPENSIVE": 4,
}
_TYPE_CATEGORY = [
    ({"lodging", "hotel", "hostel", "motel", "bed_and_breakfast"}, "lodging"),
    ({"bar", "night_club", "cafe", "coffee_shop", "pub", "wine_bar", "brewery"}, "drink"),
    ({"restaurant", "bakery", "meal_takeaway", "food"}, "food"),
    ({"store", "shopping_mall", "book_store", "clothing_store", "market"}, "shopping"),
    ({"museum", "tourist_attraction", "park", "art_gallery", "church", "historical_landmark", "zoo", "aquarium"}, "sight"),
]


def category_from_types(types: list[str]) -> str:
    kinds = set(types or [])
    for names, category in _TYPE_CATEGORY:
        if kinds & names:
            return category
    return "activity"


def place_to_record(place: dict, city_id: str, query: str = "") -> VenueRecord | None:
    name = clean_text((place.get("displayName") or {}).get("text"))
    if not name or not place.get("id"):
        return None
    loc = place.get("location") or {}
    lat, lon = valid_coords(loc.get("latitude"), loc.get("longitude"))
    hours = place.get("regularOpeningHours") or {}
    return VenueRecord(
        source="places",
        source_id=place["id"],
        city_id=city_id,
        name=name,
        category=category_from_types(place.get("types") or []),
        raw_category=place.get("primaryType") or ",".join(place.get("types") or []),
        description=clean_text((place.get("editorialSummary") or {}).get("text")),
        address=clean_text(place.get("formattedAddress")),
        hours="; ".join(hours.get("weekdayDescriptions") or []),
        price_level=PRICE_LEVELS.get(place.get("priceLevel") or ""),
        lat=lat,
        lon=lon,
        url=place.get("websiteUri") or "",
        rating=place.get("rating"),
        evidence={"place_id": place["id"], "rating": place.get("rating"),
                  "user_rating_count": place.get("userRatingCount"), "types": place.get("types") or [],
                  "query": query, "description": clean_text((place.get("editorialSummary") or {}).get("text"))},
    )


class PlacesSource(Source):
    name = "places"
    kind = "venues"
    networked = True

    def __init__(self, data_dir: Path, *, pool=None, client=None) -> None:
        super().__init__(data_dir)
        self.pool = pool
        self.client = client
        self.stats: dict = {}

    def available(self) -> str | None:
        if self.client is not None:
            return None
        if not (get_settings().places_api_key or get_secret("PLACES_API_KEY")):
            return "no PLACES_API_KEY configured"
        return None

    def read(self, city) -> Iterator[VenueRecord]:
        raise TypeError("PlacesSource is asynchronous: use `await source.read_async(city)`")

    async def read_async(self, city) -> list[VenueRecord]:
        from shared.domains.travel.catalogue.places_client import PlacesCapReached, PlacesClient

        client = self.client or PlacesClient(self.pool)
        out: list[VenueRecord] = []
        for template in QUERIES:
            query = template.format(city=city.name)
            try:
                answer = await client.search_text(query)
            except PlacesCapReached:
                break
            for place in answer.data.get("places") or []:
                record = place_to_record(place, city.id, query)
                if record is not None:
                    out.append(record)
        self.stats = client.stats.as_dict()
        return out

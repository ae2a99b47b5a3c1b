"""Cities without a catalogue: plan from the cache-first Places client with generic quality signals.

A known city that was never seeded still gets a trip: a few text searches (cache first, daily cap; see
the catalogue's places_client) give venues with a type, rating and location. They have no vibe vector,
so retrieval is the searches themselves and the heuristic ranker orders them by the persona's tags
(mapped from Places types) and a generic quality score from the rating. The response says so
(catalogue: "places_fallback"), and when Places cannot answer the itinerary is empty with the reason.
This is the second source of the planner's candidates stage; everything after it is shared.
"""
from __future__ import annotations

import logging

from shared.engine.serving.heuristic import HeuristicRanker
from shared.engine.serving.types import Candidate, RankingContext

log = logging.getLogger(__name__)
MODEL_VERSION = "heuristic-v1+places-generic"
QUERIES = ("top sights in {city}", "best restaurants in {city}", "coffee shops in {city}", "bars in {city}",
           "parks in {city}", "museums in {city}")
TYPE_MAP = {  # Places type -> (category, vibe-taxonomy tags)
    "cafe": ("drink", ("coffee", "cozy")), "coffee_shop": ("drink", ("coffee",)), "bakery": ("food", ("sweets", "breakfast-brunch")),
    "bar": ("drink", ("nightlife", "cocktails")), "night_club": ("drink", ("nightlife", "late-night")),
    "pub": ("drink", ("craft-beer",)), "brewery": ("drink", ("craft-beer",)), "wine_bar": ("drink", ("wine",)),
    "restaurant": ("food", ("global-cuisine",)), "ramen_restaurant": ("food", ("global-cuisine",)),
    "seafood_restaurant": ("food", ("seafood",)), "japanese_restaurant": ("food", ("global-cuisine",)),
    "park": ("sight", ("outdoors", "nature")), "national_park": ("sight", ("nature", "outdoors", "scenic")),
    "hiking_area": ("activity", ("nature", "active", "outdoors")), "beach": ("sight", ("waterfront", "outdoors")),
    "museum": ("sight", ("museum", "rainy-day")), "art_gallery": ("sight", ("art",)),
    "tourist_attraction": ("sight", ("iconic", "touristy")), "market": ("shopping", ("market",)),
    "shopping_mall": ("shopping", ("shopping", "rainy-day")), "book_store": ("shopping", ("shopping", "quiet")),
    "performing_arts_theater": ("activity", ("performing-arts",)), "zoo": ("sight", ("family", "outdoors")),
    "aquarium": ("sight", ("family", "rainy-day")),
}
PRICE = {"PRICE_LEVEL_FREE": 0, "PRICE_LEVEL_INEXPENSIVE": 1, "PRICE_LEVEL_MODERATE": 2, "PRICE_LEVEL_EXPENSIVE": 3,
         "PRICE_LEVEL_VERY_EXPENSIVE": 4}


def candidate_from_place(place: dict) -> Candidate | None:
    pid = place.get("id")
    name = (place.get("displayName") or {}).get("text")
    if not pid or not name:
        return None
    types = [place.get("primaryType")] + list(place.get("types") or [])
    category, tags = "activity", ()
    for t in types:
        if t in TYPE_MAP:
            category, tags = TYPE_MAP[t]
            break
    if category == "lodging":
        return None
    loc = place.get("location") or {}
    rating = place.get("rating")
    quality = 0.5 if not isinstance(rating, (int, float)) else max(0.0, min(1.0, (float(rating) - 3.0) / 2.0))
    summary = ((place.get("editorialSummary") or {}).get("text") or "")[:300]
    return Candidate(
        id=f"places:{pid}", name=name, category=category, tags=tuple(tags), vector=None, retrieval_score=quality,
        quality=quality, overrated=False, price_level=PRICE.get(place.get("priceLevel")),
        lat=loc.get("latitude"), lon=loc.get("longitude"), hours=None,
        extra={"text": f"{name} {summary}".lower(), "description": summary or None,
               "address": place.get("formattedAddress"), "uncatalogued": True, "source": "places"},
    )


async def places_candidates(pool, city_name: str, user_id: str | None = None) -> tuple[list[Candidate], str | None]:
    from shared.domains.travel.catalogue.places_client import PlacesClient, PlacesError

    seen: dict[str, Candidate] = {}
    error = None
    client = None
    for q in QUERIES:
        try:
            client = client or PlacesClient(pool, timeout_s=4.0, user_id=user_id)  # reading its key can fail too (no credentials)
            answer = await client.search_text(q.format(city=city_name), max_results=20)
        except PlacesError as exc:
            error = str(exc)
            break
        except Exception as exc:  # no credentials, network down: the trip says why it is empty, never a 500
            log.warning("Places search failed for %s", city_name, exc_info=True)
            error = f"the Places API is unavailable ({type(exc).__name__})"
            break
        for place in answer.data.get("places") or []:
            c = candidate_from_place(place)
            if c is not None and c.id not in seen:
                seen[c.id] = c
    return list(seen.values()), (None if seen else (error or "Places returned no venues for this city"))


async def places_ranking(pool, city_id: str, city_name: str, persona, user_id: str, signals: int, days: int):
    """(ranking, problem): the unseeded city's candidates and their heuristic ranking, in the same shape as a
    seeded ranking, so the rest of planning does not care which source it came from; `problem` says why
    Places gave nothing, when it did not."""
    from shared.domains.travel.trips.ranking import Ranking
    from shared.domains.travel.trips.scoring import derive_combos
    from shared.engine.serving.cache import DAY_PARTS, MAX_CACHED_DAY

    cands, problem = await places_candidates(pool, city_name, user_id)
    ctx = RankingContext(user_id=user_id, signal_count=signals, tags=persona.tags.vibe_terms())
    items = HeuristicRanker().rank(ctx, cands)
    venues = {c.id: c for c in cands}
    base = [(i.id, i.score) for i in items]
    combos = derive_combos(base, venues, DAY_PARTS, range(1, min(days, MAX_CACHED_DAY) + 1))
    ranking = Ranking(city_id, None, [(i.id, i.score, i.confidence) for i in items], venues, combos, "heuristic",
                      MODEL_VERSION, "heuristic", "city_not_seeded", False, 1, None)
    return ranking, problem

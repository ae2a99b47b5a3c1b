"""Google Places API (New), cache-first, with a daily cap kept in Postgres.

Wire format: POST {base}/v1/places:searchText (JSON body with textQuery) and GET {base}/v1/places/{id}, both with the
X-Goog-Api-Key and X-Goog-FieldMask headers. The base URL comes from settings.places_base_url so a local fake server
can stand in (tests/fakes/places_server.py).

Order of every lookup (the architecture's "cache first" rule):
1. places_api_cache: a row whose refresh_due_at is in the future is served without any call (a cache hit needs no
   API key at all);
2. otherwise reserve one call against today's cap (places_api_usage, one atomic conditional upsert), then call;
3. if the cap is reached, serve the stale cached row when there is one (marked stale), else raise PlacesCapReached.
A client made for one user's request (user_id) also reserves against that user's share of the cap
(settings.places_user_share, in places_usage_by_user), so one user cannot spend the whole day's cap; a refused
user gets stale rows or PlacesCapReached like everyone once the cap is spent. Seeding runs with no user.
Details are cached under the place id; a text search under "searchText:<sha256 of the request and field mask>".
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from shared.adapters.secrets import get_secret
from shared.settings import get_settings

DETAIL_FIELDS = (
    "id,displayName,formattedAddress,location,types,primaryType,rating,userRatingCount,priceLevel,"
    "editorialSummary,regularOpeningHours,websiteUri,googleMapsUri"
)
SEARCH_FIELDS = ",".join(f"places.{f}" for f in DETAIL_FIELDS.split(","))
DEFAULT_TTL = timedelta(days=30)


class PlacesError(RuntimeError):
    pass


class PlacesUnavailable(PlacesError):
    """No API key, and the answer is not in the cache."""


class PlacesCapReached(PlacesError):
    """Today's cap of paid calls is spent and nothing (not even stale) is cached."""


class _Refused(Exception):
    """A reservation refused inside its transaction (rolled back)."""


class PlacesApiError(PlacesError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Places API answered {status}: {message}")
        self.status = status


@dataclass
class PlacesStats:
    calls: int = 0
    cache_hits: int = 0
    stale_served: int = 0
    refused: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class PlacesAnswer:
    data: dict[str, Any]
    from_cache: bool
    stale: bool = False
    cache_key: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def search_cache_key(body: dict[str, Any], field_mask: str) -> str:
    canonical = json.dumps({"body": body, "fieldMask": field_mask}, sort_keys=True, separators=(",", ":"))
    return "searchText:" + hashlib.sha256(canonical.encode()).hexdigest()


class PlacesClient:
    def __init__(
        self,
        pool,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        daily_cap: int | None = None,
        ttl: timedelta = DEFAULT_TTL,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        user_id: str | None = None,
    ) -> None:
        settings = get_settings()
        self.pool = pool
        self.user_id = user_id
        self.api_key = api_key if api_key is not None else (settings.places_api_key or get_secret("PLACES_API_KEY") or "")
        self.base_url = (base_url or settings.places_base_url).rstrip("/")
        self.daily_cap = settings.places_daily_cap if daily_cap is None else daily_cap
        self.user_cap = int(self.daily_cap * settings.places_user_share)
        self.ttl = ttl
        self.timeout_s = timeout_s
        self._transport = transport
        self.stats = PlacesStats()

    # -- cache ---------------------------------------------------------------------------------------------------
    async def _cached(self, key: str) -> tuple[dict | None, bool]:
        row = await self.pool.fetchrow(
            "SELECT raw_response, refresh_due_at > now() AS fresh FROM places_api_cache WHERE place_id = $1", key
        )
        if row is None:
            return None, False
        return row["raw_response"], bool(row["fresh"])

    async def _store(self, key: str, data: dict) -> None:
        await self.pool.execute(
            """
            INSERT INTO places_api_cache (place_id, raw_response, fetched_at, refresh_due_at)
            VALUES ($1, $2, now(), now() + $3::interval)
            ON CONFLICT (place_id) DO UPDATE
               SET raw_response = EXCLUDED.raw_response, fetched_at = now(), refresh_due_at = EXCLUDED.refresh_due_at
            """,
            key, data, self.ttl,
        )

    # -- the cap -------------------------------------------------------------------------------------------------
    async def _count(self, column: str) -> None:
        await self.pool.execute(
            f"""INSERT INTO places_api_usage (day, {column}) VALUES ((now() AT TIME ZONE 'UTC')::date, 1)
                ON CONFLICT (day) DO UPDATE SET {column} = places_api_usage.{column} + 1, updated_at = now()"""
        )

    async def _reserve_call(self) -> None:
        """Reserve one paid call, or raise _Refused saying why not (the day's cap, or this user's share of it).
        Both counters move in one transaction, so a refusal by either reserves nothing."""
        if self.daily_cap <= 0:
            raise _Refused(f"the daily cap of {self.daily_cap} Places API calls is reached")
        async with self.pool.acquire() as conn, conn.transaction():
            if self.user_id is not None:
                mine = await conn.fetchval(
                    """
                    INSERT INTO places_usage_by_user AS u (day, user_id, calls)
                    VALUES ((now() AT TIME ZONE 'UTC')::date, $1, 1)
                    ON CONFLICT (day, user_id) DO UPDATE SET calls = u.calls + 1 WHERE u.calls < $2
                    RETURNING calls
                    """,
                    self.user_id, self.user_cap,
                )
                if mine is None or mine > self.user_cap:
                    raise _Refused(f"this user's share of {self.user_cap} Places API calls today is spent")
            used = await conn.fetchval(
                """
                INSERT INTO places_api_usage (day, calls) VALUES ((now() AT TIME ZONE 'UTC')::date, 1)
                ON CONFLICT (day) DO UPDATE SET calls = places_api_usage.calls + 1, updated_at = now()
                 WHERE places_api_usage.calls < $1
                RETURNING calls
                """,
                self.daily_cap,
            )
            if used is None:
                raise _Refused(f"the daily cap of {self.daily_cap} Places API calls is reached")

    async def calls_today(self) -> int:
        return int(await self.pool.fetchval(
            "SELECT coalesce(max(calls), 0) FROM places_api_usage WHERE day = (now() AT TIME ZONE 'UTC')::date"
        ))

    # -- HTTP ----------------------------------------------------------------------------------------------------
    async def _request(self, method: str, path: str, field_mask: str, body: dict | None = None) -> dict:
        if not self.api_key:
            raise PlacesUnavailable("PLACES_API_KEY is not set and the answer is not cached")
        headers = {"X-Goog-Api-Key": self.api_key, "X-Goog-FieldMask": field_mask, "Content-Type": "application/json"}
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_s, transport=self._transport) as http:
            resp = await http.request(method, path, headers=headers, json=body)
        if resp.status_code != 200:
            try:
                message = resp.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = resp.text[:200]
            raise PlacesApiError(resp.status_code, message)
        return resp.json()

    async def _lookup(self, key: str, fetch) -> PlacesAnswer:
        cached, fresh = await self._cached(key)
        if cached is not None and fresh:
            self.stats.cache_hits += 1
            await self._count("cache_hits")
            return PlacesAnswer(cached, from_cache=True, cache_key=key)
        if not self.api_key and cached is not None:
            self.stats.stale_served += 1
            return PlacesAnswer(cached, from_cache=True, stale=True, cache_key=key)
        try:
            await self._reserve_call()
            refused = None
        except _Refused as exc:  # raised inside the transaction so that it rolls back
            refused = str(exc)
        if refused:
            self.stats.refused += 1
            await self._count("refused")
            if cached is not None:
                self.stats.stale_served += 1
                return PlacesAnswer(cached, from_cache=True, stale=True, cache_key=key)
            raise PlacesCapReached(f"{refused} and {key!r} is not cached; raise PLACES_DAILY_CAP "
                                   "(or PLACES_USER_SHARE) or retry tomorrow")
        self.stats.calls += 1
        data = await fetch()
        await self._store(key, data)
        return PlacesAnswer(data, from_cache=False, cache_key=key)

    async def get_place(self, place_id: str) -> PlacesAnswer:
        if not place_id or "/" in place_id:
            raise ValueError(f"invalid place id {place_id!r}")
        return await self._lookup(place_id, lambda: self._request("GET", f"/v1/places/{place_id}", DETAIL_FIELDS))

    async def search_text(self, query: str, *, max_results: int = 20, location_bias: dict | None = None,
                          field_mask: str = SEARCH_FIELDS) -> PlacesAnswer:
        body: dict[str, Any] = {"textQuery": query, "pageSize": max_results}
        if location_bias:
            body["locationBias"] = location_bias
        key = search_cache_key(body, field_mask)
        return await self._lookup(key, lambda: self._request("POST", "/v1/places:searchText", field_mask, body))

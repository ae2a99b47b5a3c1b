"""Done-when 4 (Places): the cache-first client against a local server speaking Places API (New), with the cache
and the daily cap in the real (embedded) Postgres."""
from __future__ import annotations

import asyncio

import pytest

from shared.domains.travel.catalogue.places_client import (
    DETAIL_FIELDS,
    PlacesApiError,
    PlacesCapReached,
    PlacesClient,
    PlacesUnavailable,
)
from tests.fakes.places_server import FakePlaces, place
from tests.integration.catalogue.conftest import run, with_pool

pytestmark = pytest.mark.integration

PLACES = [
    place("ChIJ-needle", "Space Needle", lat=47.6205, lon=-122.3493, summary="Iconic 605-ft tower with views."),
    place("ChIJ-market", "Pike Place Market", lat=47.6097, lon=-122.3422, types=["market", "tourist_attraction"]),
    place("ChIJ-ramen", "Ramen Danbo", lat=47.6145, lon=-122.3130, types=["restaurant"],
          price="PRICE_LEVEL_INEXPENSIVE"),
]


@pytest.fixture
def fake():
    with FakePlaces(PLACES) as server:
        yield server


async def _reset(pool) -> None:
    await pool.execute("DELETE FROM places_api_cache")
    await pool.execute("DELETE FROM places_api_usage")
    await pool.execute("DELETE FROM places_usage_by_user")


def with_client(fake: FakePlaces, body, **kw):
    async def go(pool):
        await _reset(pool)
        client = PlacesClient(pool, api_key=kw.pop("api_key", fake.api_key), base_url=fake.base_url, **kw)
        return await body(client, pool)

    return run(with_pool(go))


def test_cache_hit_avoids_the_call(pg_dsn, fake):
    async def body(client, pool):
        first = await client.get_place("ChIJ-needle")
        second = await client.get_place("ChIJ-needle")
        usage = await pool.fetchrow("SELECT calls, cache_hits FROM places_api_usage")
        return first, second, usage, client.stats

    first, second, usage, stats = with_client(fake, body)
    assert not first.from_cache and second.from_cache and second.data == first.data
    assert first.data["displayName"]["text"] == "Space Needle"
    assert len(fake.calls) == 1 and fake.calls[0] == ("GET", "/v1/places/ChIJ-needle", DETAIL_FIELDS)
    assert (stats.calls, stats.cache_hits) == (1, 1)
    assert (usage["calls"], usage["cache_hits"]) == (1, 1)


def test_refresh_due_at_is_honoured(pg_dsn, fake):
    async def body(client, pool):
        await client.get_place("ChIJ-market")
        await pool.execute("UPDATE places_api_cache SET refresh_due_at = now() - interval '1 minute'")
        refreshed = await client.get_place("ChIJ-market")
        due = await pool.fetchval("SELECT refresh_due_at > now() + interval '29 days' FROM places_api_cache")
        again = await client.get_place("ChIJ-market")
        return refreshed, due, again

    refreshed, due, again = with_client(fake, body)
    assert not refreshed.from_cache and due is True  # refetched, and the next refresh is a TTL away
    assert again.from_cache and len(fake.calls) == 2


def test_daily_cap_is_enforced_and_stale_cache_still_serves(pg_dsn, fake):
    async def body(client, pool):
        await client.get_place("ChIJ-needle")
        await client.search_text("ramen in Seattle")
        with pytest.raises(PlacesCapReached, match="daily cap of 2"):
            await client.get_place("ChIJ-market")
        # A stale entry is better than nothing once the cap is spent.
        await pool.execute("UPDATE places_api_cache SET refresh_due_at = now() - interval '1 day'")
        stale = await client.get_place("ChIJ-needle")
        usage = await pool.fetchrow("SELECT calls, refused FROM places_api_usage")
        return stale, usage, client.stats

    stale, usage, stats = with_client(fake, body, daily_cap=2)
    assert stale.from_cache and stale.stale
    assert len(fake.calls) == 2 and (usage["calls"], usage["refused"]) == (2, 2)
    assert (stats.calls, stats.refused, stats.stale_served) == (2, 2, 1)


def test_cap_holds_under_concurrency(pg_dsn, fake):
    async def body(client, pool):
        ids = [f"ChIJ-missing-{i}" for i in range(8)]
        results = await asyncio.gather(*(client.get_place(i) for i in ids), return_exceptions=True)
        return results, await pool.fetchval("SELECT calls FROM places_api_usage")

    results, calls = with_client(fake, body, daily_cap=3)
    assert calls == 3 and len(fake.calls) == 3
    assert sum(isinstance(r, PlacesApiError) and r.status == 404 for r in results) == 3  # made, and unknown upstream
    assert sum(isinstance(r, PlacesCapReached) for r in results) == 5


def test_one_user_gets_only_their_share_of_the_cap(pg_dsn, fake, monkeypatch):
    """Cap 10, share 0.2: the user's third uncached lookup is refused (and reserves nothing of the day's cap);
    cached answers stay free for them, and another user still gets calls."""
    from shared.settings import get_settings

    monkeypatch.setenv("PLACES_USER_SHARE", "0.2")
    get_settings.cache_clear()

    async def body(client, pool):
        await pool.execute("INSERT INTO users (id) VALUES ('heavy'), ('light') ON CONFLICT DO NOTHING")
        await client.get_place("ChIJ-needle")
        await client.get_place("ChIJ-market")
        with pytest.raises(PlacesCapReached, match="this user's share of 2"):
            await client.get_place("ChIJ-ramen")
        cached = await client.get_place("ChIJ-needle")
        other = PlacesClient(pool, api_key=fake.api_key, base_url=fake.base_url, daily_cap=10, user_id="light")
        await other.get_place("ChIJ-ramen")
        day = await pool.fetchval("SELECT calls FROM places_api_usage")
        mine = await pool.fetch("SELECT user_id, calls FROM places_usage_by_user ORDER BY user_id")
        return cached, day, [(r["user_id"], r["calls"]) for r in mine]

    try:
        cached, day, mine = with_client(fake, body, daily_cap=10, user_id="heavy")
    finally:
        monkeypatch.delenv("PLACES_USER_SHARE")
        get_settings.cache_clear()
    assert cached.from_cache and day == 3 and len(fake.calls) == 3
    assert mine == [("heavy", 2), ("light", 1)]


def test_search_text_speaks_the_wire_format_and_caches(pg_dsn, fake):
    from shared.domains.travel.catalogue.sources.places import place_to_record

    async def body(client, pool):
        first = await client.search_text("Space Needle Seattle")
        second = await client.search_text("Space Needle Seattle")
        other = await client.search_text("Pike Place Market")
        return first, second, other

    first, second, other = with_client(fake, body)
    assert [p["id"] for p in first.data["places"]][0] == "ChIJ-needle"
    assert second.from_cache and not other.from_cache and len(fake.calls) == 2
    method, path, mask = fake.calls[0]
    assert (method, path) == ("POST", "/v1/places:searchText") and mask.startswith("places.id,places.displayName")
    record = place_to_record(first.data["places"][0], "seattle", "Space Needle Seattle")
    assert (record.name, record.category, record.lat) == ("Space Needle", "sight", 47.6205)
    assert record.evidence["user_rating_count"] == 1200 and record.description.startswith("Iconic")


def test_without_a_key_only_the_cache_answers(pg_dsn, fake):
    async def body(client, pool):
        keyed = PlacesClient(pool, api_key=fake.api_key, base_url=fake.base_url)
        await keyed.get_place("ChIJ-ramen")
        cached = await client.get_place("ChIJ-ramen")
        with pytest.raises(PlacesUnavailable):
            await client.get_place("ChIJ-needle")
        return cached

    cached = with_client(fake, body, api_key="")
    assert cached.from_cache and len(fake.calls) == 1


def test_a_wrong_key_surfaces_the_api_error(pg_dsn, fake):
    async def body(client, pool):
        with pytest.raises(PlacesApiError) as info:
            await client.get_place("ChIJ-needle")
        return info.value

    err = with_client(fake, body, api_key="wrong")
    assert err.status == 403 and "API key" in str(err)


def test_places_source_seeds_an_unseeded_city_through_the_cache(pg_dsn, fake):
    from shared.domains.travel.catalogue.cities import City
    from shared.domains.travel.catalogue.sources.places import QUERIES, PlacesSource

    async def body(client, pool):
        source = PlacesSource(pool=pool, client=client, data_dir=".")  # type: ignore[arg-type]
        city = City("seattle", "Seattle", {})
        first = await source.read_async(city)
        calls_after_first = len(fake.calls)
        second = await source.read_async(city)
        return first, second, calls_after_first

    first, second, calls_after_first = with_client(fake, body)
    assert calls_after_first == len(QUERIES) and len(fake.calls) == len(QUERIES)  # the re-read cost nothing
    assert {r.name for r in first} == {r.name for r in second} >= {"Space Needle", "Ramen Danbo"}


def test_an_uncovered_city_is_seeded_from_places(pg_dsn, qdrant_path, encoder_ready):
    """The fallback path: no file source covers the city, so seeding comes from Places (through the cache)."""
    from shared.adapters.qdrant import get_qdrant
    from shared.domains.travel.catalogue.pipeline import seed_city
    from shared.domains.travel.catalogue.vectors import collection_name
    from tests.integration.catalogue.conftest import DEMO_DATA, reset_city

    reykjavik = [
        place("ChIJ-hallgrims", "Hallgrimskirkja", lat=64.1417, lon=-21.9266, types=["church", "tourist_attraction"],
              address="Hallgrimstorg 1, Reykjavik, Iceland", summary="Towering concrete church with city views."),
        place("ChIJ-baejarins", "Baejarins Beztu Pylsur", lat=64.1481, lon=-21.9396, types=["restaurant"],
              address="Tryggvagata 1, Reykjavik, Iceland", price="PRICE_LEVEL_INEXPENSIVE",
              summary="Famous hot dog stand by the harbour."),
    ]
    run(reset_city("reykjavik"))
    with FakePlaces(reykjavik) as fake:
        async def go(pool):
            await _reset(pool)
            client = PlacesClient(pool, api_key=fake.api_key, base_url=fake.base_url)
            first = await seed_city("Reykjavik", sources="places", data_dir=DEMO_DATA, pool=pool, tagger="offline",
                                    source_kwargs={"places": {"client": client}})
            calls = len(fake.calls)
            again = await seed_city("Reykjavik", sources="places", data_dir=DEMO_DATA, pool=pool, tagger="offline",
                                    source_kwargs={"places": {"client": client}})
            rows = await pool.fetch("SELECT name, category, source_tier FROM activity_nodes WHERE city_id = 'reykjavik'")
            return first, again, calls, rows

        first, again, calls, rows = run(with_pool(go))
    assert first.city_id == "reykjavik" and first.inserted == 2
    assert {(r["name"], r["category"], r["source_tier"]) for r in rows} == {
        ("Hallgrimskirkja", "sight", 3), ("Baejarins Beztu Pylsur", "food", 3)}
    assert (again.inserted, again.updated) == (0, 0) and len(fake.calls) == calls  # the re-run was all cache hits
    assert first.places["calls"] == calls and again.places["cache_hits"] == calls
    assert get_qdrant().count(collection_name("reykjavik"), exact=True).count == 2

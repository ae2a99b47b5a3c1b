"""A synthetic city in the real stores (Postgres rows and a Qdrant collection), for tests and benchmarks that need
planning to work without waiting for a real city to be seeded. The venues come from
tests/unit/trips/trips_synthetic.make_venues (64-d vectors of its deterministic encoder)."""
from __future__ import annotations

import uuid


def point_id(venue_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"activity_node:{venue_id}"))


async def store_city(dsn: str, city: str, name: str, venues, *, drop_trips: bool) -> None:
    """The city and its venues (ids `<city>:<venue id>`). With drop_trips the city's trips go first; venues a
    remaining trip still names are kept, every other venue of the city is replaced."""
    from shared.adapters.postgres import create_pool

    pool = await create_pool(dsn)
    try:
        async with pool.acquire() as conn:
            if drop_trips:
                await conn.execute("DELETE FROM itinerary_slots WHERE trip_id IN "
                                   "(SELECT id FROM trips WHERE city_id = $1)", city)
                await conn.execute("DELETE FROM trips WHERE city_id = $1", city)
            await conn.execute(
                "INSERT INTO cities (id, name, seeded_at, venue_count) VALUES ($1, $2, now(), $3) "
                "ON CONFLICT (id) DO UPDATE SET seeded_at = now(), venue_count = $3", city, name, len(venues))
            await conn.execute("DELETE FROM activity_nodes WHERE city_id = $1 AND id NOT IN "
                               "(SELECT activity_node_id FROM itinerary_slots WHERE activity_node_id IS NOT NULL)", city)
            await conn.executemany(
                "INSERT INTO activity_nodes (id, city_id, name, category, description, vibe_embedding, vibe_tags,"
                " quality_signals, overrated_flag, lat, lon, hours, price_level) VALUES"
                " ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT (id) DO NOTHING",
                [(f"{city}:{v.id}", city, v.name, v.category, f"{v.name} in {name}", v.vector, list(v.tags),
                  {"quality": v.quality}, v.overrated, v.lat, v.lon, v.hours, v.price_level) for v in venues])
    finally:
        await pool.close()


def index_city(city: str, venues) -> None:
    """The city's Qdrant collection, recreated with every venue's vector."""
    from qdrant_client import models

    from shared.adapters.qdrant import get_qdrant

    q = get_qdrant()
    name = f"venues_{city}"
    if q.collection_exists(name):
        q.delete_collection(name)
    q.create_collection(name, vectors_config={"vibe": models.VectorParams(size=64, distance=models.Distance.COSINE)})
    q.upsert(name, points=[
        models.PointStruct(id=point_id(f"{city}:{v.id}"), vector={"vibe": v.vector.tolist()},
                           payload={"id": f"{city}:{v.id}", "city": city, "category": v.category, "tags": list(v.tags),
                                    "price": v.price_level, "coordinates": {"lat": v.lat, "lon": v.lon}})
        for v in venues])

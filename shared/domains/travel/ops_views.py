"""Travel's operator views: the seeded catalogue and one trip as an operator sees it.

The admin console reads these through the admin function; they are the only queries behind its Catalogue and
Trips pages. A trip is rendered through the one trip view model (shared.domains.travel.trips.view), so the console
shows exactly what a traveller's client receives, plus per slot what only an operator needs: the model version
that produced it and the ranker of the plan.
"""
from __future__ import annotations

from typing import Any

TOP_TAGS = 12
RUNS_SHOWN = 10


async def catalogue_overview(pool) -> dict[str, Any]:
    """Every city with venues or a seeding run: venue counts, the most common vibe tags, how many venues' opening
    hours parsed, how many are flagged overrated; and the last seeding runs with their summaries."""
    cities = await pool.fetch(
        "SELECT c.id, c.name, c.country, c.seeded_at, count(a.id) AS venues, "
        "count(a.id) FILTER (WHERE a.hours_status = 'parsed') AS hours_parsed, "
        "count(a.id) FILTER (WHERE a.hours_status = 'unparsed') AS hours_unparsed, "
        "count(a.id) FILTER (WHERE a.hours_status = 'missing') AS hours_missing, "
        "count(a.id) FILTER (WHERE a.overrated_flag) AS overrated, "
        "count(a.id) FILTER (WHERE a.lat IS NOT NULL AND a.lon IS NOT NULL) AS located "
        "FROM cities c LEFT JOIN activity_nodes a ON a.city_id = c.id "
        "GROUP BY c.id HAVING count(a.id) > 0 OR c.seeded_at IS NOT NULL ORDER BY c.id")
    tags = await pool.fetch(
        "SELECT city_id, tag, n FROM (SELECT city_id, tag, count(*) AS n, row_number() OVER "
        "(PARTITION BY city_id ORDER BY count(*) DESC, tag) AS r FROM activity_nodes, unnest(vibe_tags) AS tag "
        "GROUP BY city_id, tag) t WHERE r <= $1 ORDER BY city_id, n DESC, tag", TOP_TAGS)
    overrated = await pool.fetch(
        "SELECT city_id, name, overrated_score FROM (SELECT city_id, name, overrated_score, row_number() OVER "
        "(PARTITION BY city_id ORDER BY overrated_score DESC, name) AS r FROM activity_nodes WHERE overrated_flag) t "
        "WHERE r <= 5 ORDER BY city_id, overrated_score DESC")
    runs = await pool.fetch(
        "SELECT id, city_id, sources, venue_limit, status, progress, summary, error, created_at, finished_at "
        "FROM seed_runs ORDER BY created_at DESC LIMIT $1", RUNS_SHOWN)
    tags_by_city: dict[str, list] = {}
    for r in tags:
        tags_by_city.setdefault(r["city_id"], []).append({"tag": r["tag"], "venues": r["n"]})
    over_by_city: dict[str, list] = {}
    for r in overrated:
        over_by_city.setdefault(r["city_id"], []).append({"name": r["name"], "score": round(r["overrated_score"], 3)})
    return {
        "cities": [{"id": c["id"], "name": c["name"], "country": c["country"],
                    "seeded_at": c["seeded_at"].isoformat() if c["seeded_at"] else None, "venues": c["venues"],
                    "located": c["located"],
                    "hours": {"parsed": c["hours_parsed"], "unparsed": c["hours_unparsed"],
                              "missing": c["hours_missing"]},
                    "overrated": c["overrated"], "top_tags": tags_by_city.get(c["id"], []),
                    "most_overrated": over_by_city.get(c["id"], [])} for c in cities],
        "runs": [{"run_id": r["id"], "city_id": r["city_id"], "sources": list(r["sources"]), "limit": r["venue_limit"],
                  "status": r["status"], "progress": r["progress"], "summary": r["summary"], "error": r["error"],
                  "created_at": r["created_at"].isoformat(),
                  "finished_at": r["finished_at"].isoformat() if r["finished_at"] else None} for r in runs],
    }


async def trip_for_operator(pool, trip_id: str) -> dict[str, Any] | None:
    """The trip through the one view model, each slot with its model version and coordinates; None if unknown."""
    from shared.domains.travel.trips.store import SLOT_COLUMNS, TRIP_COLUMNS
    from shared.domains.travel.trips.view import trip_view

    async with pool.acquire() as conn:
        trip = await conn.fetchrow(f"SELECT {TRIP_COLUMNS} FROM trips WHERE id = $1", trip_id)
        if trip is None:
            return None
        slots = [dict(s) for s in await conn.fetch(
            f"SELECT {SLOT_COLUMNS} FROM itinerary_slots WHERE trip_id = $1 ORDER BY day_number, slot_order", trip_id)]
    trip = dict(trip)
    body = trip_view(trip, slots, viewer=trip["user_id"] or "")
    versions = {s["id"]: s["model_version"] for s in slots}
    located = 0
    for day in body["days"]:
        for slot in day["slots"]:
            slot["model_version"] = versions.get(slot["slot_id"])
            venue = slot.get("venue") or {}
            slot["located"] = venue.get("lat") is not None and venue.get("lon") is not None
            located += slot["located"]
    body["user_id"] = trip["user_id"]
    body["located_slots"] = located
    return body

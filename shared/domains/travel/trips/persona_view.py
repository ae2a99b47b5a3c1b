"""What GET /v1/users/me/persona shows: the stored persona, the signal count and cold/warm state."""
from __future__ import annotations

from shared.domains.errors import NotFound
from shared.domains.travel.trips.archetypes import assign_archetype
from shared.domains.travel.trips.tags import parse_tags
from shared.engine.events.schema import WARM_THRESHOLD, is_warm


async def persona_view(pool, user_id: str) -> dict:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT id, persona_description, onboarding_tags, signal_count, persona_embedding IS NOT NULL AS has_emb"
            " FROM users WHERE id = $1", user_id)
    if row is None or not row["has_emb"]:
        raise NotFound("no persona yet: plan a trip with tags to create one", "user")
    tags = parse_tags(row["onboarding_tags"] or {})
    return {
        "user_id": user_id,
        "description": row["persona_description"],
        "tags": tags.as_json(),
        "archetype": assign_archetype(tags),
        "embedding_dim": 128,
        "signal_count": row["signal_count"],
        "state": "warm" if is_warm(row["signal_count"]) else "cold",
        "warm_threshold": WARM_THRESHOLD,
    }

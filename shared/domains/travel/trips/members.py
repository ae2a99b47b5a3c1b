"""Stage 2 of planning: the travellers and their personas (the caller's built or refreshed from new tags,
group members' as stored)."""
from __future__ import annotations

import asyncio

import numpy as np

from shared.domains.errors import InvalidRequest
from shared.domains.travel.trips import companions, store
from shared.domains.travel.trips.archetypes import assign_archetype
from shared.domains.travel.trips.persona import Persona, build_persona
from shared.domains.travel.trips.tags import Tags, parse_tags

Member = tuple[str, Persona, int]   # (user id, persona, signal count)


def persona_from_row(row) -> Persona | None:
    if row is None or row["persona_embedding"] is None:
        return None
    tags = parse_tags(row["onboarding_tags"] or {})
    return Persona(tags, row["persona_description"] or "", "stored", assign_archetype(tags),
                   np.asarray(row["persona_embedding"], dtype=np.float32))


async def ensure_persona(pool, conn, user_id: str, tags: Tags | None) -> tuple[Persona, int]:
    """The user's persona, (re)built when new tags arrive or none is stored. Returns (persona, signal_count).
    The persona writer is an LLM call like the ranker's: it needs a key and an unspent daily budget, and its
    tokens go to the cost guard (through `pool`, outside the caller's connection)."""
    from shared.domains.travel.trips.rankers import llm_refusal
    from shared.domains.travel.trips.ranking import default_vibe_encoder
    from shared.engine.cost_guard import record_usage

    row = await store.ensure_user(conn, user_id)
    existing = persona_from_row(row)
    if existing is not None and (tags is None or existing.tags.as_json() == tags.as_json()):
        return existing, row["signal_count"]
    tags = tags or Tags()
    loop = asyncio.get_running_loop()
    use_llm = await llm_refusal(pool, user_id) is None
    usages: list[dict] = []
    persona = await loop.run_in_executor(None, lambda: build_persona(tags, default_vibe_encoder, use_llm=use_llm,
                                                                     on_usage=usages.append))
    for usage in usages:
        await record_usage(pool, "trips.persona", usage, user_id)
    await store.save_persona(conn, user_id, tags.as_json(), persona.description, persona.embedding)
    return persona, row["signal_count"]


async def load_members(pool, conn, user_id: str, tags: Tags | None, group_user_ids: list[str]) -> list[Member]:
    persona, signals = await ensure_persona(pool, conn, user_id, tags)
    members: list[Member] = [(user_id, persona, signals)]
    if not group_user_ids:
        return members
    if user_id in group_user_ids:
        raise InvalidRequest("group_user_ids must not include the caller", "group_user_ids")
    await companions.require_companions(conn, user_id, group_user_ids)
    rows = await store.load_users(conn, group_user_ids)
    for i, uid in enumerate(group_user_ids):
        p = persona_from_row(rows.get(uid))
        if p is None:
            raise InvalidRequest(f"user {uid!r} has no persona yet (they must plan once or set tags)",
                                 f"group_user_ids[{i}]")
        members.append((uid, p, rows[uid]["signal_count"]))
    return members

"""The warm persona: what a traveller accepts, skips and swaps moves their persona's vibe vector, nightly.

users.persona_embedding's first 64 dimensions are the query the trip retrieval sends to Qdrant (persona.py).
For a cold traveller it is their onboarding tags, encoded. Once they are warm (WARM_THRESHOLD signals), the
learning job re-derives it from the onboarding vector and their signals:

    vibe = unit( onboarding + ACCEPT_PULL * mean(accepted venues' vibe) - SKIP_PUSH * mean(skipped venues' vibe) )

- positives: slot_accept, thumbs_up, pivot_accept; negatives: slot_skip, slot_swap (the venue swapped out),
  thumbs_down, pivot_dismiss. pivot_ignore and views say too little and are left out;
- a fast skip (time_to_action_ms under FAST_SKIP_MS: a glance was enough) counts FAST_SKIP_WEIGHT times;
- the structured block [64:128] stays the onboarding one; the vector is recomputed from the stored onboarding
  tags each night (not blended into last night's), so re-running the job is idempotent.

The same vector is upserted into the Qdrant `personas` collection (payload: user, source, signal counts), for
the similar-travellers lookups that read it.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np

from shared.domains.travel.trips.persona import PERSONA_DIM, VIBE_DIM, persona_embedding
from shared.domains.travel.trips.tags import parse_tags
from shared.engine.events.schema import POSITIVE_TYPES, WARM_THRESHOLD

NEGATIVE_TYPES = frozenset({"slot_skip", "slot_swap", "thumbs_down", "pivot_dismiss"})
ACCEPT_PULL = 1.5
SKIP_PUSH = 0.5
FAST_SKIP_MS = 1500
FAST_SKIP_WEIGHT = 2.0
PERSONA_COLLECTION = "personas"
SOURCE = "signals-centroid-v1"
LOOKBACK_DAYS = 180


@dataclass
class PersonaUpdate:
    user_id: str
    positives: int
    negatives: int
    moved: float  # cosine distance between the old and the new vibe vector


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def learned_vibe(onboarding: np.ndarray, accepted: list[np.ndarray], skipped: list[tuple[np.ndarray, float]]
                 ) -> np.ndarray:
    """The rule in the module docstring, on 64-d vectors; `skipped` carries each skip's weight."""
    v = _unit(np.asarray(onboarding, dtype=np.float64))
    if accepted:
        v = v + ACCEPT_PULL * _unit(np.mean(np.asarray(accepted, dtype=np.float64), axis=0))
    if skipped:
        vecs = np.asarray([s for s, _ in skipped], dtype=np.float64)
        w = np.asarray([w for _, w in skipped], dtype=np.float64)
        v = v - SKIP_PUSH * _unit((vecs * w[:, None]).sum(axis=0) / w.sum())
    return _unit(v).astype(np.float32)


def skip_weight(time_to_action_ms) -> float:
    return FAST_SKIP_WEIGHT if isinstance(time_to_action_ms, int) and time_to_action_ms < FAST_SKIP_MS else 1.0


async def warm_users(conn) -> list[str]:
    rows = await conn.fetch("SELECT id FROM users WHERE signal_count >= $1 AND onboarding_tags IS NOT NULL"
                            " ORDER BY id", WARM_THRESHOLD)
    return [r["id"] for r in rows]


async def update_persona(conn, user_id: str, encode) -> PersonaUpdate | None:
    """Recompute and store one warm traveller's persona vector; None when they have no usable signal."""
    user = await conn.fetchrow("SELECT onboarding_tags, persona_embedding FROM users WHERE id = $1", user_id)
    if user is None:
        return None
    rows = await conn.fetch(
        "SELECT s.signal_type, (s.context->>'time_to_action_ms')::bigint AS tta, n.vibe_embedding"
        "  FROM behavioral_signals s JOIN activity_nodes n ON n.id = s.activity_node_id"
        " WHERE s.user_id = $1 AND s.signal_type = ANY($2::text[]) AND n.vibe_embedding IS NOT NULL"
        "   AND s.created_at >= now() - make_interval(days => $3)",
        user_id, sorted(POSITIVE_TYPES | NEGATIVE_TYPES), LOOKBACK_DAYS)
    accepted = [np.asarray(r["vibe_embedding"], dtype=np.float32) for r in rows if r["signal_type"] in POSITIVE_TYPES]
    skipped = [(np.asarray(r["vibe_embedding"], dtype=np.float32), skip_weight(r["tta"]))
               for r in rows if r["signal_type"] in NEGATIVE_TYPES]
    if not accepted and not skipped:
        return None
    onboarding = persona_embedding(parse_tags(user["onboarding_tags"] or {}), encode)
    vibe = learned_vibe(onboarding[:VIBE_DIM], accepted, skipped)
    new = np.concatenate([vibe, onboarding[VIBE_DIM:]]).astype(np.float32)
    assert new.shape == (PERSONA_DIM,)
    old = user["persona_embedding"]
    moved = 1.0 if old is None else 1.0 - float(np.dot(_unit(np.asarray(old, np.float64)[:VIBE_DIM]), vibe))
    await conn.execute("UPDATE users SET persona_embedding = $2 WHERE id = $1", user_id, new)
    return PersonaUpdate(user_id, len(accepted), len(skipped), round(moved, 6))


def persona_point_id(user_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"concierge-persona:{user_id}"))


def upsert_personas(qdrant, vectors: dict[str, np.ndarray], updates: list[PersonaUpdate]) -> None:
    """The learned vectors into the Qdrant personas collection (created on first use)."""
    from qdrant_client import models

    if not vectors:
        return
    if not qdrant.collection_exists(PERSONA_COLLECTION):
        qdrant.create_collection(PERSONA_COLLECTION,
                                 vectors_config=models.VectorParams(size=PERSONA_DIM, distance=models.Distance.COSINE))
    by_user = {u.user_id: u for u in updates}
    qdrant.upsert(PERSONA_COLLECTION, points=[
        models.PointStruct(id=persona_point_id(uid), vector=vec.tolist(),
                           payload={"user_id": uid, "source": SOURCE, "positives": by_user[uid].positives,
                                    "negatives": by_user[uid].negatives})
        for uid, vec in vectors.items()])


async def update_warm_personas(conn, qdrant, encode) -> list[PersonaUpdate]:
    updates, vectors = [], {}
    for uid in await warm_users(conn):
        up = await update_persona(conn, uid, encode)
        if up is not None:
            updates.append(up)
            stored = await conn.fetchval("SELECT persona_embedding FROM users WHERE id = $1", uid)
            vectors[uid] = np.asarray(stored, dtype=np.float32)
    upsert_personas(qdrant, vectors, updates)
    return updates

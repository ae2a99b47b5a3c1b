"""Taking a deleted account out of the group trips it shared with others.

Deletion (shared.engine.events.anonymise) removes a person's own trips; but a group trip also belongs to its
other members, who keep it. Before that delete runs, in the same transaction, this hands each group trip the
person created to the next member, and then removes the person from every group trip they are in: the member
list, the stored request, the per-member archetypes and states, each stop's "serves" list and the narrative
claim that names whom a stop was chosen for (the narrative is re-rendered from its claims).
"""
from __future__ import annotations

from shared.domains.travel.trips.narrative import render_all


async def forget_member(conn, user_id: str) -> int:
    """Returns how many group trips of other members no longer name the person."""
    await conn.execute(
        "UPDATE trips SET user_id = (array_remove(member_ids, $1))[1] "
        "WHERE user_id = $1 AND cardinality(array_remove(member_ids, $1)) > 0", user_id)
    trips = await conn.fetch("SELECT id FROM trips WHERE $1 = ANY(member_ids) AND user_id <> $1", user_id)
    if not trips:
        return 0
    ids = [t["id"] for t in trips]
    await conn.execute(
        """
        UPDATE trips SET member_ids = array_remove(member_ids, $1),
               request = CASE WHEN request ? 'group_user_ids'
                              THEN jsonb_set(request, '{group_user_ids}', (request->'group_user_ids') - $1)
                              ELSE request END,
               meta = (meta #- ARRAY['archetypes', $1]) #- ARRAY['states', $1]
         WHERE id = ANY($2::text[])
        """, user_id, ids)
    slots = await conn.fetch(
        "SELECT id, trip_id, serves, venue, details FROM itinerary_slots WHERE trip_id = ANY($1::text[]) "
        "AND serves ? $2", ids, user_id)
    for s in slots:
        serves = [u for u in s["serves"] if u != user_id]
        details = dict(s["details"] or {})
        claims = []
        for claim in details.get("claims") or []:
            if claim.get("type") == "serves":
                claim = {**claim, "users": [u for u in claim["users"] if u != user_id]}
                if not claim["users"]:
                    continue
            claims.append(claim)
        details["claims"] = claims
        await conn.execute(
            "UPDATE itinerary_slots SET serves = $3, details = $4, generated_narrative = $5, updated_at = now() "
            "WHERE id = $2 AND trip_id = $1",
            s["trip_id"], s["id"], serves, details, render_all(claims, s["venue"]["name"]))
    return len(ids)

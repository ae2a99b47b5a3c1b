"""From an assembled plan to the slots that are stored and rendered: venue snapshots, legs, and the narrative
with its claims (narrative.py)."""
from __future__ import annotations

from shared.domains.travel.trips import store
from shared.domains.travel.trips.evidence import applicable_tags, tag_evidence
from shared.domains.travel.trips.itinerary import Plan, PlannedSlot, slot_key, snapshot
from shared.domains.travel.trips.narrative import narrate
from shared.domains.travel.trips.persona import Persona


def matched_for(s: PlannedSlot, personas: dict[str, Persona], serves: list[str]) -> list[tuple[str, str]]:
    """The tags (of the travellers this stop serves) that apply to its kind and that the venue has evidence for."""
    out: list[tuple[str, str]] = list(s.matched)
    for uid in serves:
        for tag, ev in tag_evidence(s.venue, applicable_tags(personas[uid].tags, s.kind)):
            if tag not in {t for t, _ in out}:
                out.append((tag, ev))
    return out


def build_slots(trip_id: str, plan: Plan, members: list[tuple[str, Persona, int]], model_version: str,
                city_id: str) -> list[dict]:
    personas = {uid: p for uid, p, _ in members}
    group = len(members) > 1
    out: list[dict] = []
    previous: dict | None = None
    for s in plan.slots:
        serves = s.serves or [members[0][0]]
        slot = {
            "id": store.slot_id(trip_id, s.day_number, s.slot_order), "day_number": s.day_number,
            "slot_order": s.slot_order, "day_part": s.day_part, "kind": s.kind,
            "activity_node_id": s.venue.id if not s.venue.extra.get("uncatalogued") else None,
            "model_version": model_version, "serves": serves, "venue": snapshot(s.venue), "arrive": s.arrive,
            "score": float(s.score), "key": slot_key(s.day_number, s.slot_order),
            "travel": s.travel.as_dict() if s.travel else None,
        }
        same_day = previous if previous is not None and previous["day_number"] == s.day_number else None
        slot["narrative"], claims = narrate(slot, same_day, matched_for(s, personas, serves), city_id, group)
        slot["details"] = {"kind": s.kind, "depart": s.depart, "travel": slot["travel"], "claims": claims,
                           **({"decision": s.decision} if s.decision else {})}
        out.append(slot)
        previous = slot
    return out

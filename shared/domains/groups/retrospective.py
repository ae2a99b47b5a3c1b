"""After the outing: each member's ratings become training signals, and the group's next spectrum learns from them.

Three pure functions, for three readers:
- signal_records: the behavioural signals, in the very record shape the trips domain's server-side signals use
  (shared.engine.events.validation.server_record), so they reach behavioral_signals through the same sink;
- updated_preferences: a member's tag weights after their ratings;
- updated_history: what the group did and liked, which the spectrum reads as "familiar".

Rules:
- only members who came rate venues; ratings from anyone else are ignored (they did not experience them);
- a venue the member did not rate takes their outing rating; a member with neither gives nothing;
- rating → signal type: 5 → thumbs_up, 4 → slot_accept (both positive in the training data), 3 → nothing (a
  shrug is not evidence either way), 2 → slot_skip, 1 → thumbs_down. The signal's weight is the architecture's
  in-app weight (1.0): weight says how much a source is trusted, the type says how strong the reaction was;
- preferences move by PREFERENCE_RATE × (rating − 3) / 2 on every key the venue gives evidence for (its vibe
  tags, its venue type, and the member's own keys that match it), clipped to [-1, 1]: a 5 adds 0.3, a 1 takes
  0.3 off, a 3 changes nothing;
- history: a venue the attendees rate 4 or more on average joins the group's history with its kind and area
  (the next safe option starts from there); one they rate 2 or less leaves it (its kind and area stay, as
  other liked venues may share them).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from shared.domains.errors import InvalidRequest
from shared.domains.groups.spectrum import GroupHistory, Option, Stop, taste_evidence
from shared.domains.travel.trips.dayparts import DAY_PART_WINDOWS
from shared.domains.travel.trips.stops import effective_type
from shared.engine.serving.types import Candidate

RATING_SIGNAL = {5: "thumbs_up", 4: "slot_accept", 2: "slot_skip", 1: "thumbs_down"}
PREFERENCE_RATE = 0.3
LIKED_AT = 4.0
DISLIKED_AT = 2.0
MODEL_VERSION = "groups-retrospective-1"


@dataclass(frozen=True)
class Review:
    """One member's ratings of an outing: the outing as a whole and, optionally, each venue (1-5)."""
    user_id: str
    outing_rating: int | None = None
    venue_ratings: Mapping[str, int] = field(default_factory=dict)


def _check(reviews: Sequence[Review], option: Option) -> None:
    venues = set(option.venue_ids)
    for i, r in enumerate(reviews):
        if r.outing_rating is not None and r.outing_rating not in range(1, 6):
            raise InvalidRequest("an outing rating is 1 to 5", f"reviews[{i}].outing_rating")
        for vid, rating in r.venue_ratings.items():
            if vid not in venues:
                raise InvalidRequest(f"{vid} was not part of this outing", f"reviews[{i}].venue_ratings.{vid}")
            if rating not in range(1, 6):
                raise InvalidRequest("a venue rating is 1 to 5", f"reviews[{i}].venue_ratings.{vid}")


def effective_ratings(review: Review, option: Option) -> dict[str, int]:
    """Venue id → the member's rating of it, their outing rating where they did not rate the venue itself."""
    out = {}
    for vid in option.venue_ids:
        rating = review.venue_ratings.get(vid, review.outing_rating)
        if rating is not None:
            out[vid] = rating
    return out


def _day_part(stop: Stop) -> str:
    hour = stop.start.hour + stop.start.minute / 60
    for part, (start, end) in DAY_PART_WINDOWS.items():
        if start <= hour < end:
            return part
    return "morning" if hour < 12 else "evening"


def signal_records(outing_id: str, option: Option, reviews: Sequence[Review], attended: Iterable[str],
                   reviewed_at: dt.datetime) -> list[dict]:
    """One signal per attendee and rated venue (none for a 3). The outing id stands where a trip id does
    (behavioral_signals.trip_id is plain text); event ids derive from outing, member and venue, so a
    re-submitted review stores nothing twice."""
    from shared.engine.events.validation import server_record

    _check(reviews, option)
    came = set(attended)
    stops = {s.venue_id: s for s in option.stops}
    out = []
    for review in sorted(reviews, key=lambda r: r.user_id):
        if review.user_id not in came:
            continue
        for vid, rating in effective_ratings(review, option).items():
            signal_type = RATING_SIGNAL.get(rating)
            if signal_type is None:
                continue
            context = {"group_size": len(came), "day_part": _day_part(stops[vid])}
            out.append(server_record(review.user_id, signal_type, vid, outing_id, context, MODEL_VERSION,
                                     f"group_retro|{outing_id}|{review.user_id}|{vid}", reviewed_at))
    return out


def updated_preferences(preferences: Mapping[str, float], review: Review, option: Option,
                        venues_by_id: Mapping[str, Candidate]) -> dict[str, float]:
    """The member's tag weights after this review (unchanged when they rated nothing)."""
    _check([review], option)
    out = dict(preferences)
    for vid, rating in effective_ratings(review, option).items():
        venue = venues_by_id.get(vid)
        if venue is None:
            continue
        delta = PREFERENCE_RATE * (rating - 3) / 2
        if delta == 0:
            continue
        keys = set(venue.tags) | {effective_type(venue)} | {k for k in preferences if taste_evidence(k, venue)}
        for key in sorted(keys):
            out[key] = round(min(1.0, max(-1.0, out.get(key, 0.0) + delta)), 6)
    return out


def updated_history(history: GroupHistory, option: Option, reviews: Sequence[Review],
                    attended: Iterable[str]) -> GroupHistory:
    """The group's history after the outing: liked venues (mean attendee rating ≥ 4) join it, disliked ones
    (≤ 2) leave it."""
    _check(reviews, option)
    came = set(attended)
    ratings: dict[str, list[int]] = {}
    for review in reviews:
        if review.user_id in came:
            for vid, rating in effective_ratings(review, option).items():
                ratings.setdefault(vid, []).append(rating)
    venue_ids, categories, areas = set(history.venue_ids), set(history.categories), set(history.areas)
    for stop in option.stops:
        given = ratings.get(stop.venue_id)
        if not given:
            continue
        mean = sum(given) / len(given)
        if mean >= LIKED_AT:
            venue_ids.add(stop.venue_id)
            categories.add(stop.category)
            areas.add(stop.area)
        elif mean <= DISLIKED_AT:
            venue_ids.discard(stop.venue_id)
    return replace(history, venue_ids=frozenset(venue_ids), categories=frozenset(categories), areas=frozenset(areas))

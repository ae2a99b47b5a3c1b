"""Simulated travellers for the learning loop (a benchmark and test tool, never part of serving).

No real traffic exists here, so the loop is shown end to end with a seeded cohort that uses the real API like a
client would: it plans trips through the gateway, looks at the slots, and sends slot_view / slot_accept /
slot_skip signals (with time_to_action_ms) to POST /v1/signals.

Each traveller has a hidden taste the API never sees: taxonomy terms they enjoy and terms they avoid, a price
ceiling, and a position bias (the later a slot in the day, the less likely it is looked at). Their onboarding
tags are only a coarse proxy for it (a "foodie" may in truth love seafood by the water and avoid dives), which
is what a model that learns from accepts and skips can improve on. The taste decides each reaction:

    utility = LIKE * |liked terms of the venue| - AVOID * |avoided terms| - PRICE * (price above ceiling) + noise
    P(accept | looked) = sigmoid(utility - BAR)

A clear dislike is skipped fast (time_to_action_ms under a second and a half), which the persona learner
weighs as a strong negative. Never tune a model's hyper-parameters on this simulator: tune on the real datasets.
"""
from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import httpx

LIKE, AVOID, PRICE, BAR, NOISE = 1.6, 2.0, 0.8, 0.9, 0.6

# theme -> (onboarding tags the traveller gives, terms a traveller of the theme may truly like, may avoid)
THEMES: dict[str, tuple[dict, tuple[str, ...], tuple[str, ...]]] = {
    "food": ({"food": ["coffee", "seafood"]},
             ("seafood", "coffee", "waterfront", "local-favourite", "market", "sweets", "fine-dining", "wine"),
             ("dive", "touristy", "late-night", "sports")),
    "outdoors": ({"interests": ["parks", "views"]},
                 ("outdoors", "nature", "scenic", "waterfront", "active", "market", "coffee"),
                 ("nightlife", "dive", "shopping", "touristy")),
    "culture": ({"interests": ["museums", "history"]},
                ("museum", "art", "historic", "architecture", "performing-arts", "learning", "iconic"),
                ("sports", "dive", "late-night", "active")),
}


@dataclass(frozen=True)
class Traveller:
    user_id: str
    theme: str
    likes: frozenset[str]
    avoids: frozenset[str]
    price_ceiling: int
    position_bias: float

    @property
    def tags(self) -> dict:
        return {**THEMES[self.theme][0], "pace": "moderate"}


def cohort(n: int, seed: int, prefix: str = "sim") -> list[Traveller]:
    """n travellers, themes in turn, each with a hidden taste drawn from the theme's pools."""
    rng = random.Random(seed)
    run = uuid.UUID(int=rng.getrandbits(128)).hex[:6]
    out = []
    for i in range(n):
        theme = list(THEMES)[i % len(THEMES)]
        _tags, likes, avoids = THEMES[theme]
        out.append(Traveller(f"{prefix}-{run}-{i:03d}", theme, frozenset(rng.sample(likes, 3)),
                             frozenset(rng.sample(avoids, 2)), rng.choice((2, 3, 4)), rng.uniform(0.05, 0.25)))
    return out


def utility(t: Traveller, venue: dict, rng: random.Random) -> float:
    terms = set(venue.get("tags") or ())
    over = max(0, (venue.get("price_level") or 0) - t.price_ceiling)
    return LIKE * len(terms & t.likes) - AVOID * len(terms & t.avoids) - PRICE * over + rng.gauss(0, NOISE)


@dataclass
class Reaction:
    slot: dict
    day: int
    looked: bool
    accepted: bool = False
    time_to_action_ms: int | None = None


def react(t: Traveller, trip: dict, rng: random.Random) -> list[Reaction]:
    """What the traveller does with each slot of a planned trip (in day and slot order)."""
    out = []
    for day in trip["days"]:
        for i, slot in enumerate(day["slots"]):
            if slot.get("kind") == "break":
                continue
            looked = rng.random() < 1.0 / (1.0 + t.position_bias * i)
            if not looked:
                out.append(Reaction(slot, day["day"], False))
                continue
            u = utility(t, slot["venue"], rng)
            accepted = rng.random() < 1.0 / (1.0 + math.exp(-(u - BAR)))
            fast = not accepted and u < -1.0
            tta = int(rng.uniform(500, 1400)) if fast else int(rng.lognormvariate(math.log(4000), 0.4))
            out.append(Reaction(slot, day["day"], True, accepted, tta))
    return out


def signals(trip: dict, reactions: list[Reaction], at: datetime) -> list[dict]:
    """The signals a client sends for these reactions: a view, then an accept or a skip, for every slot looked at."""
    out = []
    for n, r in enumerate(reactions):
        if not r.looked:
            continue
        ctx = {"slot_id": r.slot["slot_id"], "day_of_trip": r.day, "day_part": r.slot["day_part"]}
        when = at + timedelta(milliseconds=50 * n)  # after the trip was served, in the order seen
        base = {"trip_id": trip["trip_id"], "activity_node_id": r.slot["venue"]["id"]}
        out.append({**base, "signal_type": "slot_view", "context": ctx, "occurred_at": when.isoformat()})
        out.append({**base, "signal_type": "slot_accept" if r.accepted else "slot_skip",
                    "context": {**ctx, "time_to_action_ms": r.time_to_action_ms},
                    "occurred_at": (when + timedelta(milliseconds=20)).isoformat()})
    return out


@dataclass
class Stats:
    trips: int = 0
    looked: int = 0
    accepted: int = 0
    by_model: dict = field(default_factory=dict)   # X-Model-Version -> [looked, accepted]


class Client:
    """The cohort's view of the API: the gateway, with one bearer token per traveller."""

    def __init__(self, gateway_url: str, timeout_s: float = 60):
        self.http = httpx.Client(base_url=gateway_url, timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    def plan(self, t: Traveller, city: str, start: date, days: int = 2) -> tuple[dict, str]:
        r = self.http.post("/v1/trips", headers={"Authorization": f"Bearer {t.user_id}"}, json={
            "city": city, "start_date": start.isoformat(), "end_date": (start + timedelta(days=days - 1)).isoformat(),
            "tags": t.tags})
        if r.status_code != 201:
            raise RuntimeError(f"planning for {t.user_id} failed: {r.status_code} {r.text[:300]}")
        return r.json(), r.headers.get("X-Model-Version", "")

    def send(self, t: Traveller, batch: list[dict]) -> int:
        sent = 0
        for i in range(0, len(batch), 500):
            part = batch[i:i + 500]
            r = self.http.post("/v1/signals", headers={"Authorization": f"Bearer {t.user_id}"}, json={"signals": part})
            if r.status_code != 202:
                raise RuntimeError(f"signals for {t.user_id} were not all accepted: {r.status_code} {r.text[:300]}")
            sent += len(part)
        return sent


def take_trip(client: Client, t: Traveller, city: str, start: date, rng: random.Random, stats: Stats,
              at: datetime | None = None) -> tuple[dict, list[Reaction]]:
    """Plan one trip for `t`, react to it and send the signals; returns the trip and the reactions."""
    trip, model_version = client.plan(t, city, start)
    reactions = react(t, trip, rng)
    client.send(t, signals(trip, reactions, at or datetime.now(timezone.utc)))
    looked = sum(r.looked for r in reactions)
    accepted = sum(r.accepted for r in reactions)
    stats.trips += 1
    stats.looked += looked
    stats.accepted += accepted
    per = stats.by_model.setdefault(model_version, [0, 0])
    per[0] += looked
    per[1] += accepted
    return trip, reactions

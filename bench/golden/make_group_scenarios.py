"""Writes bench/golden/group_scenarios.json: the group planner's golden set (issue 13), versioned in the repo.

    .venv/bin/python bench/golden/make_group_scenarios.py     # rewrites the file; the same seed gives the same file

Each scenario is a friend group in one of the eight benchmark cities: 2-6 members (the first is the owner) with
tags, diets, access needs, a per-outing budget, a home as an offset from the city centre, seats, and busy
intervals on the outing's day (local times); the day, the outing's length and the aggregation. The set is drawn
so every slice the gate reports (group size, city, budget level, role) has members in it. Regenerate it only
deliberately: a changed golden set makes release-to-release drift meaningless.
"""
from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("group_scenarios.json")
SEED = 13
N = 240
CITIES = ("seattle", "paris", "san-francisco", "seoul", "los-angeles", "new-orleans", "brooklyn", "busan")
PROFILES = [
    {"food": ["seafood"], "interests": ["museums"]}, {"food": ["coffee", "dessert"]}, {"interests": ["parks", "views"]},
    {"food": ["italian"], "vibe": ["cozy"]}, {"interests": ["art", "history"]}, {"food": ["beer"], "interests": ["live_music"]},
    {"vibe": ["local", "hidden_gems"]}, {"food": ["korean", "bbq"]}, {"interests": ["markets", "shopping"]},
    {"food": ["wine"], "vibe": ["romantic"]}, {}, {"interests": ["gardens", "waterfront"]},
]
BUDGETS = {"low": (25, 45), "medium": (50, 100), "high": (110, 200)}   # per person per outing: a cheap dinner and
                                                                       # a drink at the low end
DURATIONS = (90, 150, 180, 240)
AGGREGATIONS = ("least_misery", "nash_welfare", "average")


def scenario(i: int, rng: random.Random) -> dict:
    size = 2 + i % 5
    city = CITIES[i % len(CITIES)]
    level = ("low", "medium", "high")[(i // 5) % 3]
    day = dt.date(2027, 1 + i % 12, 1) + dt.timedelta(days=rng.randrange(27))
    members = []
    for k in range(size):
        lo, hi = BUDGETS[level]
        busy = []
        if rng.random() < 0.5:  # a busy afternoon or a late meeting, local time on the day
            start = rng.choice(["09:00", "12:00", "14:00", "16:00"])
            busy.append([start, rng.choice(["17:00", "18:30"])])
        members.append({
            "id": f"s{i:03d}m{k}", "role": "owner" if k == 0 else "member",
            "tags": rng.choice(PROFILES),
            "diet": ["vegetarian"] if rng.random() < 0.12 else [],
            "access": ["step_free"] if rng.random() < 0.04 else [],
            "budget": float(rng.randint(lo, hi)),
            "home_km": [round(rng.uniform(-4, 4), 2), round(rng.uniform(-4, 4), 2)],
            "seats": rng.choice([0, 0, 2, 3]),
            "busy": busy,
        })
    return {"id": f"s{i:03d}", "city": city, "day": day.isoformat(), "minutes": rng.choice(DURATIONS),
            "quorum": max(2, size - 1), "aggregation": AGGREGATIONS[i % 3], "budget_level": level,
            "members": members}


def main() -> None:
    rng = random.Random(SEED)
    scenarios = [scenario(i, rng) for i in range(N)]
    lines = ",\n".join(json.dumps(sc, separators=(",", ":")) for sc in scenarios)  # one scenario a line: diffable
    OUT.write_text(f'{{"version": 1, "seed": {SEED}, "scenarios": [\n{lines}\n]}}\n')
    print(f"wrote {OUT.name}: {len(scenarios)} scenarios")


if __name__ == "__main__":
    main()

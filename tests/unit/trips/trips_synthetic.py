"""Small synthetic venues for the pure trip-planning tests (no stores, no models)."""
from __future__ import annotations

import hashlib

import numpy as np
from shared.engine.serving.types import Candidate

KINDS = [
    # (category, vibe-taxonomy tags, hours, name word)
    ("drink", ("coffee", "cozy", "local-favourite"), "Daily 7AM-3PM", "Coffee"),
    ("food", ("global-cuisine", "hole-in-the-wall", "casual"), "11AM-10PM", "Ramen"),
    ("drink", ("cocktails", "nightlife"), "5PM-2AM", "Lounge"),
    ("sight", ("museum", "art", "historic"), "10AM-5PM", "Museum"),
    ("sight", ("outdoors", "scenic", "nature"), None, "Park"),
    ("activity", ("nature", "active", "outdoors"), None, "Trail"),
    ("food", ("seafood", "upscale"), "5PM-10PM", "Oyster Bar"),
    ("shopping", ("market", "shopping", "local-favourite"), "9AM-6PM", "Market"),
]


def fake_encode(texts: list[str]) -> np.ndarray:
    """Deterministic bag-of-words → 64-d: shared words give similar vectors, like a real encoder would."""
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in t.replace(",", " ").split():
            h = int(hashlib.md5(w.encode()).hexdigest(), 16)
            out[i, h % 64] += 1.0
            out[i, (h // 64) % 64] += 0.5
        n = np.linalg.norm(out[i])
        if n:
            out[i] /= n
    return out


def make_venues(n: int = 64, seed: int = 3) -> dict[str, Candidate]:
    rng = np.random.default_rng(seed)
    pool = {}
    for i in range(n):
        cat, tags, hours, word = KINDS[i % len(KINDS)]
        vid = f"v{i:03d}"
        lat = 47.60 + rng.uniform(-0.04, 0.04)
        lon = -122.33 + rng.uniform(-0.05, 0.05)
        pool[vid] = Candidate(
            id=vid, name=f"{word} {i}", category=cat, tags=tags,
            vector=fake_encode([" ".join(tags)])[0], retrieval_score=float(rng.uniform(0.2, 0.9)),
            quality=float(rng.uniform(0.3, 1.0)), overrated=bool(i % 17 == 0),
            price_level=int(rng.integers(1, 5)), lat=lat, lon=lon, hours=hours, extra={"text": f"{word} {i}".lower()},
        )
    return pool



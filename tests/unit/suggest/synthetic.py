"""Small logged-bandit fixtures with known structure, built directly as BanditLog (no files)."""
from __future__ import annotations

import numpy as np

from shared.engine.suggest.bandit_data import BanditLog, ItemCatalogue


def make_log(n: int = 400, n_actions: int = 6, len_list: int = 3, seed: int = 0, click_rate: float = 0.2,
             policy: str = "random") -> BanditLog:
    """Uniform-random logging, clicks likelier for users with affinity and for even items."""
    rng = np.random.default_rng(seed)
    user_levels = (("u0a", "u0b"), ("u1a", "u1b", "u1c"), ("u2a", "u2b"), ("u3a", "u3b", "u3c", "u3d"))
    user = np.stack([rng.integers(0, len(levels), n) for levels in user_levels], axis=1)
    affinity = (rng.random((n, n_actions)) < 0.15).astype(float)
    item = rng.integers(0, n_actions, n)
    position = rng.integers(0, len_list, n)
    p = click_rate * (0.5 + (item % 2 == 0)) * (1 + affinity[np.arange(n), item])
    items = ItemCatalogue(feature_0=np.linspace(-1, 1, n_actions),
                          categorical=np.stack([np.arange(n_actions) % 2, np.arange(n_actions) % 3,
                                                np.zeros(n_actions, dtype=int)], axis=1),
                          levels=(("c0x", "c0y"), ("c1x", "c1y", "c1z"), ("c2x",)))
    return BanditLog(policy=policy, campaign="all", timestamp=np.sort(rng.random(n)) * 1e5, item=item,
                     position=position, click=(rng.random(n) < np.clip(p, 0, 1)).astype(np.int64),
                     pscore=np.full(n, 1.0 / n_actions), user=user, user_levels=user_levels, affinity=affinity,
                     items=items, len_list=len_list)

"""The warm persona moves toward what the traveller accepts and away from what they skip; a fast skip pushes
harder; with no signal the onboarding vector stands."""
from __future__ import annotations

import numpy as np

from shared.domains.travel.trips.persona_learning import FAST_SKIP_MS, learned_vibe, skip_weight


def _axis(i: int) -> np.ndarray:
    v = np.zeros(64, dtype=np.float32)
    v[i] = 1.0
    return v


def test_accepts_pull_and_skips_push():
    onboarding, liked, disliked = _axis(0), _axis(1), _axis(2)
    v = learned_vibe(onboarding, [liked, liked], [(disliked, 1.0)])
    assert np.isclose(np.linalg.norm(v), 1.0)
    assert v[1] > v[0] > 0 > v[2]
    assert np.allclose(learned_vibe(onboarding, [], []), onboarding)


def test_a_fast_skip_counts_more_than_a_slow_one():
    assert skip_weight(FAST_SKIP_MS - 1) > skip_weight(FAST_SKIP_MS) == skip_weight(None) == 1.0
    onboarding, fast, slow = _axis(0), _axis(1), _axis(2)
    v = learned_vibe(onboarding, [], [(fast, skip_weight(300)), (slow, skip_weight(9000))])
    assert v[1] < v[2] < 0

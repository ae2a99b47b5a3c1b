"""SASRec fitted on accept sequences learns what comes next, scores through its ONNX graph only, and round-trips."""
from __future__ import annotations

import numpy as np
import pytest

from shared.engine.data.dataset import InteractionDataset
from shared.engine.rankers import UNKNOWN_SCORE, RankerError, load_ranker
from shared.engine.rankers.sasrec_ranker import SASRecRanker

CYCLE = [f"v{i}" for i in range(8)]


def _dataset(n_users: int = 40, length: int = 12) -> InteractionDataset:
    """Every user walks the same cycle of venues from their own starting point, with skips in between: after
    v3 comes v4 for everyone, which only the order of the accepts (not their counts) tells."""
    rng = np.random.default_rng(0)
    users, items, kinds = [], [], []
    for u in range(n_users):
        start = int(rng.integers(len(CYCLE)))
        for step in range(length):
            users.append(f"u{u}")
            items.append(CYCLE[(start + step) % len(CYCLE)])
            kinds.append("slot_accept")
            users.append(f"u{u}")
            items.append(CYCLE[(start + step + 4) % len(CYCLE)])
            kinds.append("slot_skip")
    return InteractionDataset.from_columns("cycle", users, items, timestamps=np.arange(len(users)),
                                           context={"signal_type": np.array(kinds, dtype=object)})


@pytest.fixture(scope="module")
def model() -> SASRecRanker:
    return SASRecRanker(max_epochs=60, patience=60, eval_every=10, hidden=32, lr=3e-3, dropout=0.1).fit(_dataset())


def test_the_next_venue_in_the_users_order_ranks_first(model):
    hits = 0
    for u in range(40):
        last = model.histories[model._user[f"u{u}"]][-1]
        expected = CYCLE[(CYCLE.index(str(model.item_ids[last - 1])) + 1) % len(CYCLE)]
        scores = model.score(f"u{u}", CYCLE)
        hits += CYCLE[int(np.argmax(scores))] == expected
    assert hits >= 36, hits   # popularity (every venue equally common) would get about 5 of 40
    assert model.manifest.trained_on["validation_hr@10"] > 0


def test_unknown_user_and_venue_score_unknown_and_the_artifact_round_trips(model):
    assert (model.score("stranger", CYCLE) == UNKNOWN_SCORE).all()
    assert model.score("u0", ["never-seen", "v1"])[0] == UNKNOWN_SCORE
    again = load_ranker(model.to_bytes())
    assert again.served_by == model.served_by
    np.testing.assert_allclose(again.score("u3", CYCLE), model.score("u3", CYCLE), rtol=1e-6)
    assert "torch" not in type(again).__module__


def test_needs_an_order_to_learn_from():
    one_each = InteractionDataset.from_columns("single", ["a", "b"], ["v1", "v2"], timestamps=[1, 2],
                                               context={"signal_type": np.array(["slot_accept"] * 2, dtype=object)})
    with pytest.raises(RankerError, match="two accepts"):
        SASRecRanker().fit(one_each)

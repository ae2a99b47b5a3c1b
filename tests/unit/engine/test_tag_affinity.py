"""Tag affinity learns each user's taste for tags from accepts and skips, so it can rank items nobody has taken
yet; its artifact round-trips."""
from __future__ import annotations

import numpy as np
import pytest

from shared.engine.data.dataset import InteractionDataset
from shared.engine.rankers import RankerError, load_ranker
from shared.engine.rankers.tag_affinity import TagAffinityRanker

TAGS = {f"a{i}": ("seafood", "waterfront") for i in range(6)} | {f"b{i}": ("museum", "art") for i in range(6)}


def _dataset(rows) -> InteractionDataset:
    users, items, kinds, tta = zip(*rows)
    return InteractionDataset.from_columns(
        "synthetic", users, items, timestamps=np.arange(len(rows)), context={
            "signal_type": np.array(kinds, dtype=object), "time_to_action_ms": np.array(tta, dtype=np.int64)},
        item_features={"tags": TAGS})


def _taste_rows():
    rows = []
    for u in range(8):  # half the users take seafood and skip museums, the other half the reverse
        likes, dislikes = ("a", "b") if u % 2 == 0 else ("b", "a")
        for i in range(4):
            rows.append((f"u{u}", f"{likes}{i}", "slot_accept", 4000))
            rows.append((f"u{u}", f"{dislikes}{i}", "slot_skip", 700))
    return rows


def test_each_users_taste_ranks_items_nobody_took_yet():
    model = TagAffinityRanker(C=10.0).fit(_dataset(_taste_rows()))
    unseen = {"new-sea": ("seafood",), "new-art": ("art",)}
    sea, art = model.score("u0", ["new-sea", "new-art"], {"item_tags": unseen})
    assert sea > art
    sea, art = model.score("u1", ["new-sea", "new-art"], {"item_tags": unseen})
    assert art > sea
    # items it was trained on carry their own tags; a user it never saw gets the shared taste (here: none)
    assert model.score("u0", ["a5", "b5"]).argmax() == 0
    assert np.isfinite(model.score("stranger", ["a5", "b5", "nothing-known"])).all()


def test_the_artifact_round_trips():
    model = TagAffinityRanker().fit(_dataset(_taste_rows()))
    again = load_ranker(model.to_bytes())
    items = ["a1", "b1", "a5"]
    assert again.served_by == model.served_by
    np.testing.assert_allclose(again.score("u2", items), model.score("u2", items), rtol=1e-6)


def test_it_needs_accepts_and_skips():
    with pytest.raises(RankerError, match="accepts and skips"):
        TagAffinityRanker().fit(_dataset([("u0", "a1", "slot_accept", 100), ("u1", "a2", "slot_accept", 100)]))


def test_a_taste_profile_carries_what_others_taught_to_a_tag_the_user_never_answered():
    # "sea" people (half the users) take seafood and waterfront places and refuse dives; the newcomer has taken
    # two seafood places and never seen a waterfront one or a dive: the shared profile cross should still rank
    # a waterfront place above a dive for them.
    tags = {f"s{i}": ("seafood",) for i in range(6)} | {f"w{i}": ("waterfront",) for i in range(6)} \
        | {f"d{i}": ("dive",) for i in range(6)} | {f"m{i}": ("museum",) for i in range(6)}
    rows = []
    for u in range(12):
        sea = u % 2 == 0
        for i in range(6):
            rows.append((f"u{u}", f"s{i}", "slot_accept" if sea else "slot_skip", 4000))
            rows.append((f"u{u}", f"w{i}", "slot_accept" if sea else "slot_skip", 4000))
            rows.append((f"u{u}", f"d{i}", "slot_skip" if sea else "slot_accept", 4000))
            rows.append((f"u{u}", f"m{i}", "slot_accept" if i % 2 else "slot_skip", 4000))
    rows += [("newcomer", "s0", "slot_accept", 4000), ("newcomer", "s1", "slot_accept", 4000),
             ("newcomer", "m0", "slot_skip", 4000)]
    users, items, kinds, tta = zip(*rows)
    ds = InteractionDataset.from_columns(
        "synthetic", users, items, timestamps=np.arange(len(rows)), context={
            "signal_type": np.array(kinds, dtype=object), "time_to_action_ms": np.array(tta, dtype=np.int64)},
        item_features={"tags": tags})
    model = TagAffinityRanker(C=10.0).fit(ds)
    water, dive = model.score("newcomer", ["new-water", "new-dive"],
                              {"item_tags": {"new-water": ("waterfront",), "new-dive": ("dive",)}})
    assert water > dive
    assert np.abs(model.w_cross).max() > 0  # it is the cross that knows: the user's own weights never saw these

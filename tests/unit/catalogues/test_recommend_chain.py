"""The recommendation chain on an in-memory catalogue with a real ALS model (implicit): who serves whom and why,
exclusion of seen items, filters, MMR, and batch equal to single calls. The stores are not involved here (the
integration test runs the same code through the gateway)."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from shared.domains.catalogues.models import CatalogueModels, LoadedModel
from shared.domains.catalogues.recommend import _answer, _chain
from shared.domains.catalogues.schemas import Filters, RecommendRequest
from shared.domains.errors import InvalidRequest
from shared.engine.data.dataset import InteractionDataset
from shared.engine.rankers import ALSRanker

N_ITEMS, N_USERS = 60, 40


def _catalogue(with_als: bool = True, two_tower=None) -> CatalogueModels:
    rng = np.random.default_rng(0)
    items = [f"i{j}" for j in range(N_ITEMS)]
    users, bought = [], []
    for u in range(N_USERS):  # two tastes: users in the first half like the first half of the items
        half = range(0, 30) if u < N_USERS // 2 else range(30, 60)
        for j in rng.choice(list(half), size=8, replace=False):
            users.append(f"u{u}")
            bought.append(items[j])
    vectors = rng.normal(size=(N_ITEMS, 8)).astype(np.float32)
    vectors[:10] = vectors[0]  # ten near-duplicates: what MMR should spread out
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cat = CatalogueModels("toy", items, {i: k for k, i in enumerate(items)}, [i.upper() for i in items],
                          [("even",) if k % 2 == 0 else ("odd",) for k in range(N_ITEMS)], vectors, "v1",
                          np.linspace(1.0, 0.0, N_ITEMS), "pop@test")
    if with_als:
        als = ALSRanker(factors=8, iterations=10).fit(InteractionDataset.from_columns("toy", users, bought))
        codes = np.array([cat.index[str(i)] for i in als.item_ids])
        cat.models["als"] = LoadedModel("als", als.served_by, als.version, als, codes)
    else:
        cat.missing["als"] = "no production recs-toy-als in the registry"
    if two_tower is not None:
        cat.models["two_tower"] = two_tower
    else:
        cat.missing["two_tower"] = "no production recs-toy-two_tower in the registry"
    return cat


def _serve(cat, users, histories):
    return asyncio.run(_chain(cat, users, histories))


def test_a_known_user_is_served_by_als_and_a_new_one_by_popularity_each_saying_why():
    cat = _catalogue()
    known, new = _serve(cat, ["u1", "stranger"], [["i1"], []])
    assert known.kind == "als" and "two_tower: no production" in known.reasons[0]
    assert new.kind == "popularity"
    assert new.reasons == ["two_tower: no production recs-toy-two_tower in the registry",
                           f"als: the user is not in {cat.models['als'].served_by}'s training data"]


class _BrokenTower:
    item_ids = [f"i{j}" for j in range(N_ITEMS)]
    item_vectors = np.zeros((N_ITEMS, 8), dtype=np.float32)

    def embed_history(self, items):
        raise RuntimeError("the ONNX session is gone")


def test_a_failing_two_tower_model_hands_over_to_als_with_the_reason():
    broken = LoadedModel("two_tower", "recs-toy-two_tower@bad", "bad", _BrokenTower(), np.arange(N_ITEMS))
    cat = _catalogue(two_tower=broken)
    (served,) = _serve(cat, ["u1"], [["i1", "i2"]])
    assert served.kind == "als"
    assert served.reasons == ["two_tower: recs-toy-two_tower@bad failed (RuntimeError)"]


def test_seen_items_filters_and_mmr_shape_the_list():
    cat = _catalogue(with_als=False)
    (served,) = _serve(cat, ["u1"], [["i0", "i1"]])
    req = RecommendRequest(user_id="u1", k=5)
    plain = _answer(cat, "u1", served, ["i0", "i1"], req)
    assert [i["item_id"] for i in plain["items"]] == ["i2", "i3", "i4", "i5", "i6"]  # popularity order, seen left out
    assert plain["served_by"] == "popularity" and plain["fallback_reason"]
    odd = _answer(cat, "u1", served, [], RecommendRequest(user_id="u1", k=3, filters=Filters(categories=["odd"])))
    assert [i["item_id"] for i in odd["items"]] == ["i1", "i3", "i5"]
    diverse = _answer(cat, "u1", served, [], RecommendRequest(user_id="u1", k=5, diversity=0.7))
    ids = [i["item_id"] for i in diverse["items"]]
    assert ids[0] == "i0" and sum(int(i[1:]) < 10 for i in ids) < 5  # MMR spreads out the near-duplicates
    with pytest.raises(InvalidRequest) as err:
        _answer(cat, "u1", served, [], RecommendRequest(user_id="u1", filters=Filters(categories=["vegan"])))
    assert err.value.field == "filters.categories"


def test_one_pass_for_many_users_equals_one_call_each():
    cat = _catalogue()
    users = ["u1", "u25", "stranger"]
    histories = [["i1"], ["i40"], []]
    together = _serve(cat, users, histories)
    alone = [_serve(cat, [u], [h])[0] for u, h in zip(users, histories)]
    for a, b in zip(together, alone):
        assert a.kind == b.kind and a.reasons == b.reasons
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)

"""Every ranker behind the one interface: learns the clusters, excludes seen items, round-trips its artifact."""
from __future__ import annotations

import numpy as np
import pytest

from shared.engine.data import InteractionDataset, stratified_random_split
from shared.engine.metrics import evaluate_full_ranking
from shared.engine.rankers import (
    UNKNOWN_SCORE,
    PopularityRanker,
    Ranker,
    RankerError,
    available_rankers,
    create_ranker,
    load_ranker,
)
from tests.unit.engine.synthetic import clustered_interactions

FAST = {
    "popularity": {},
    "als": {"factors": 8, "iterations": 10, "regularization": 0.1, "num_threads": 1},
    "bpr": {"factors": 8, "iterations": 60, "learning_rate": 0.05, "num_threads": 1},
    "item_knn": {"K": 10, "num_threads": 1},
    "ease": {"l2": 10.0, "num_threads": 1},
}
PERSONAL = [n for n in FAST if n != "popularity"]


@pytest.fixture(scope="module")
def data():
    return clustered_interactions(n_users=40, n_items=30, per_user=10, seed=1)


def test_every_builtin_ranker_is_registered():
    assert set(FAST) <= set(available_rankers())


@pytest.mark.parametrize("name", PERSONAL)
def test_personal_rankers_recommend_from_the_users_cluster(name, data):
    ranker = create_ranker(name, **FAST[name]).fit(data)
    for user, own in (("u00", range(0, 15)), ("u39", range(15, 30))):
        recs = ranker.recommend(user, k=3)
        assert len(recs) == 3
        assert all(int(r.item_id[1:]) in own for r in recs), (name, user, recs)
        assert not {r.item_id for r in recs} & ranker.seen_items(user)
        assert all(r.served_by == ranker.served_by for r in recs)


@pytest.mark.parametrize("name", list(FAST))
def test_artifact_round_trip_gives_identical_scores(name, data, tmp_path):
    ranker = create_ranker(name, **FAST[name]).fit(data)
    items = ["i00", "i07", "i20", "i29", "nope"]
    path = ranker.save(tmp_path / f"{name}.npz")
    loaded = load_ranker(path)
    assert type(loaded) is type(ranker) and loaded.version == ranker.version and loaded.params == ranker.params
    np.testing.assert_array_equal(loaded.score("u03", items), ranker.score("u03", items))
    assert loaded.score("u03", items)[-1] == UNKNOWN_SCORE
    assert [r.item_id for r in loaded.recommend("u03", 5)] == [r.item_id for r in ranker.recommend("u03", 5)]
    assert Ranker.from_bytes(ranker.to_bytes()).version == ranker.version


def test_version_is_deterministic_in_params_and_data(data):
    a = create_ranker("ease", l2=10.0).fit(data)
    b = create_ranker("ease", l2=10.0).fit(data)
    c = create_ranker("ease", l2=20.0).fit(data)
    assert a.version == b.version != c.version
    assert a.manifest.trained_on["fingerprint"] == data.fingerprint


def test_unknown_user_gets_the_popularity_fallback_and_says_so(data):
    ranker = create_ranker("als", **FAST["als"]).fit(data)
    recs = ranker.recommend("someone-new", k=4)
    assert len(recs) == 4 and all(r.served_by.endswith("/popularity-fallback") for r in recs)


def test_unknown_parameters_and_unfitted_use_are_refused(data):
    with pytest.raises(RankerError, match="unknown parameter"):
        create_ranker("ease", lambda_=3)
    with pytest.raises(RankerError):
        create_ranker("ease").to_bytes()
    with pytest.raises(RankerError):
        load_ranker(b"not an artifact")


def test_popularity_decay_prefers_recent_items():
    day = 86_400 * 1_000_000
    # "old" has 3 interactions 100 days before the newest one; "new" has 2 from the last day
    ds = InteractionDataset.from_columns(
        "decay", ["a", "b", "c", "d", "e"], ["old", "old", "old", "new", "new"],
        timestamps=[0, 0, 0, 100 * day, 100 * day],
    )
    plain = PopularityRanker().fit(ds)
    decayed = PopularityRanker(half_life_days=7).fit(ds)
    assert [r.item_id for r in plain.recommend("z", 2)] == ["old", "new"]
    assert [r.item_id for r in decayed.recommend("z", 2)] == ["new", "old"]


def test_recommend_among_candidates_through_the_generic_path(data):
    ranker = create_ranker("ease", **FAST["ease"]).fit(data)
    recs = ranker.recommend("u00", k=2, candidates=["i25", "i01", "i02", "missing"], exclude_seen=False)
    assert {r.item_id for r in recs} <= {"i01", "i02"}


def test_personal_ranker_beats_popularity_with_a_confident_gap(data):
    split = stratified_random_split(data, 0.7, seed=0)
    pop = evaluate_full_ranking(create_ranker("popularity").fit(split.train), split, ks=(5,), n_resamples=300)
    ease = evaluate_full_ranking(create_ranker("ease", l2=10.0).fit(split.train), split, ks=(5,), n_resamples=300)
    assert ease.metrics["hr@5"].low > pop.metrics["hr@5"].high
    cmp = ease.compare(pop, "ndcg@5")
    assert cmp.significant and cmp.diff > 0

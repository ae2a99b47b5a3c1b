"""Ranking metrics against hand-computed cases, and the statistics around them."""
from __future__ import annotations

import math

import numpy as np
import pytest

from shared.engine.metrics.ranking import coverage, hit_matrix, metrics_from_hits, novelty
from shared.engine.metrics.stats import bootstrap_ci, paired_comparison

L2 = math.log2


def _one(ranked: list[int], relevant: list[int], k: int) -> dict[str, float]:
    hits = hit_matrix(np.array([ranked]), [np.array(relevant)])
    return {m: float(v[0]) for m, v in metrics_from_hits(hits, np.array([len(relevant)]), k).items()}


def test_two_hits_out_of_three_relevant_at_5():
    # ranked a b c d e = 0 1 2 3 4; relevant b, d and an item never recommended (9): hits at ranks 2 and 4
    m = _one([0, 1, 2, 3, 4], [1, 3, 9], k=5)
    assert m["hr"] == 1.0
    assert m["precision"] == pytest.approx(2 / 5)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["mrr"] == pytest.approx(1 / 2)
    dcg = 1 / L2(3) + 1 / L2(5)
    idcg = 1 + 1 / L2(3) + 1 / L2(4)
    assert m["ndcg"] == pytest.approx(dcg / idcg)  # 1.06161 / 2.13093
    assert m["ndcg"] == pytest.approx(0.498189, abs=1e-6)
    # average precision: (1/2 + 2/4) over min(|R|, k) = 3
    assert m["map"] == pytest.approx(1.0 / 3)
    assert m["map_allrel"] == pytest.approx(1.0 / 3)


def test_map_normalisers_differ_when_relevant_exceeds_k():
    # k=2, first item relevant, 3 relevant items: MS map_at_k divides by min(3, 2), their older map by 3
    m = _one([1, 0], [1, 3, 9], k=2)
    assert m["map"] == pytest.approx(1 / 2)
    assert m["map_allrel"] == pytest.approx(1 / 3)
    assert m["ndcg"] == pytest.approx(1 / (1 + 1 / L2(3)))
    assert m["precision"] == pytest.approx(1 / 2)
    assert m["recall"] == pytest.approx(1 / 3)


def test_no_hit_scores_zero_everywhere():
    m = _one([0, 1, 2], [7], k=3)
    assert all(v == 0.0 for v in m.values())


def test_short_list_still_divides_precision_by_k():
    # one recommendation (padded with -1) that is the only relevant item
    m = _one([5, -1, -1], [5], k=3)
    assert m["precision"] == pytest.approx(1 / 3)
    assert m["recall"] == m["ndcg"] == m["map"] == m["hr"] == m["mrr"] == 1.0


def test_padding_never_matches_and_rows_are_independent():
    ranked = np.array([[0, -1], [2, 0]])
    hits = hit_matrix(ranked, [np.array([2]), np.array([0])])
    assert hits.tolist() == [[False, False], [False, True]]


def test_hit_at_rank_three_mrr_and_ndcg():
    m = _one([4, 5, 6, 7], [6], k=4)
    assert m["mrr"] == pytest.approx(1 / 3)
    assert m["ndcg"] == pytest.approx(1 / L2(4))  # = 0.5
    assert m["map"] == pytest.approx(1 / 3)


def test_users_without_relevant_items_are_rejected():
    with pytest.raises(ValueError):
        metrics_from_hits(np.zeros((1, 3), dtype=bool), np.array([0]))


def test_novelty_and_coverage_by_hand():
    counts = np.array([4, 2, 1])  # users per item, 4 training users
    per_user = novelty(np.array([[0, 1], [2, -1]]), counts, n_train_users=4)
    assert per_user.tolist() == pytest.approx([(0 + 1) / 2, 2.0])  # -log2(4/4), -log2(2/4); -log2(1/4)
    assert coverage(np.array([[0, 1], [2, -1]]), catalogue_size=6) == pytest.approx(0.5)


def test_matches_an_independent_pandas_computation():
    """Random users and lists: our vectorised metrics equal a straightforward per-user loop in pandas."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    k, n_items = 5, 30
    ranked = np.array([rng.choice(n_items, k, replace=False) for _ in range(50)])
    relevant = [rng.choice(n_items, rng.integers(1, 12), replace=False) for _ in range(50)]
    ours = metrics_from_hits(hit_matrix(ranked, relevant), np.array([len(r) for r in relevant]), k)
    rows = [(u, int(i), j + 1) for u, row in enumerate(ranked) for j, i in enumerate(row)]
    top = pd.DataFrame(rows, columns=["user", "item", "rank"])
    truth = pd.DataFrame([(u, int(i)) for u, rel in enumerate(relevant) for i in rel], columns=["user", "item"])
    hit = top.merge(truth, on=["user", "item"]).sort_values(["user", "rank"])
    actual = truth.groupby("user").size()
    hit["rr"] = (hit.groupby("user").cumcount() + 1) / hit["rank"]
    hit["dcg"] = 1 / np.log(1 + hit["rank"])
    by_user = hit.groupby("user").agg(n=("item", "size"), rr=("rr", "sum"), dcg=("dcg", "sum")).reindex(
        range(50), fill_value=0)
    idcg = actual.apply(lambda a: sum(1 / np.log(1 + j) for j in range(1, min(a, k) + 1)))
    assert ours["precision"] == pytest.approx((by_user.n / k).to_numpy())
    assert ours["recall"] == pytest.approx((by_user.n / actual).to_numpy())
    assert ours["map"] == pytest.approx((by_user.rr / actual.clip(upper=k)).to_numpy())
    assert ours["ndcg"] == pytest.approx((by_user.dcg / idcg).to_numpy())


def test_bootstrap_ci_brackets_the_mean_and_is_reproducible():
    x = np.random.default_rng(0).random(500)
    ci = bootstrap_ci(x, "m", n_resamples=500, seed=1)
    assert ci.low < ci.mean < ci.high
    assert ci.n == 500 and ci.mean == pytest.approx(x.mean())
    assert bootstrap_ci(x, "m", n_resamples=500, seed=1) == ci
    half_width = (ci.high - ci.low) / 2
    assert half_width == pytest.approx(1.96 * x.std(ddof=1) / math.sqrt(500), rel=0.2)  # the textbook width


def test_bootstrap_ci_of_constant_values_is_the_point():
    ci = bootstrap_ci(np.ones(10), "m")
    assert (ci.low, ci.mean, ci.high) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        bootstrap_ci(np.array([]), "m")


def test_paired_comparison_detects_a_consistent_gain_and_not_noise():
    rng = np.random.default_rng(0)
    b = rng.random(300)
    better = paired_comparison(b + 0.05 + rng.normal(0, 0.01, 300), b, "ndcg@10", n_resamples=500)
    assert better.significant and better.diff_low > 0 and better.p_value_wilcoxon < 1e-6
    same = paired_comparison(b, b.copy(), "ndcg@10", n_resamples=500)
    assert not same.significant and same.p_value_wilcoxon == 1.0 and same.diff == 0.0
    with pytest.raises(ValueError):
        paired_comparison(b, b[:10])

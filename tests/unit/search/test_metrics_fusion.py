"""BEIR-style metrics and reciprocal-rank fusion against hand-computed values; the validation split's contract."""
from __future__ import annotations

import math

import numpy as np
import pytest

from shared.engine.search.hybrid import fuse_runs, reciprocal_rank_fusion
from shared.engine.search.metrics import evaluated_queries, ndcg_at_k, per_query, recall_at_k
from shared.engine.search.scifact import validation_split


def test_graded_ndcg_matches_a_hand_computation():
    # grades: a=2, b=1, c=0 (judged non-relevant), d=3 never retrieved; ranked: x, a, c, b
    judged = {"a": 2, "b": 1, "c": 0, "d": 3}
    dcg = 0 / math.log2(2) + 2 / math.log2(3) + 0 / math.log2(4) + 1 / math.log2(5)
    idcg = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)  # ideal: d, a, b (c has no gain)
    assert ndcg_at_k(["x", "a", "c", "b"], judged, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["x", "a", "c", "b"], judged, 10) == pytest.approx(0.355436, abs=1e-6)  # 1.69255 / 4.76186
    # the cut-off applies to both the run and the ideal
    assert ndcg_at_k(["x", "a", "c", "b"], judged, 2) == pytest.approx((2 / math.log2(3)) / (3 + 2 / math.log2(3)))
    assert ndcg_at_k(["d", "a", "b"], judged, 10) == pytest.approx(1.0)


def test_recall_counts_positive_judgments_only():
    judged = {"a": 1, "b": 2, "c": 0}
    assert recall_at_k(["c", "a", "z"], judged, 10) == pytest.approx(0.5)
    assert recall_at_k(["c", "z", "a"], judged, 2) == 0.0


def test_per_query_vectors_follow_sorted_query_ids_and_beir_conventions():
    qrels = {"q2": {"d1": 1}, "q1": {"d2": 1}, "q3": {"d9": 0}}  # q3 has no positive: not evaluated
    run = {"q1": ["q1", "d2"], "q2": ["d5"]}  # q1 retrieved itself first: BEIR drops identical ids
    assert evaluated_queries(qrels) == ["q1", "q2"]
    values = per_query(run, qrels)
    np.testing.assert_allclose(values["ndcg@10"], [1.0, 0.0])
    np.testing.assert_allclose(values["recall@100"], [1.0, 0.0])
    kept = per_query(run, qrels, ignore_identical_ids=False)
    assert kept["ndcg@10"][0] == pytest.approx(1 / math.log2(3))
    assert per_query({}, qrels)["ndcg@10"].tolist() == [0.0, 0.0]  # an unanswered query scores 0


def test_rrf_on_a_hand_example():
    bm25 = ["a", "b", "c"]
    dense = ["c", "a", "d"]
    fused = reciprocal_rank_fusion([bm25, dense], k=60)
    expect = {"a": 1 / 61 + 1 / 62, "c": 1 / 63 + 1 / 61, "b": 1 / 62, "d": 1 / 63}
    assert [d for d, _ in fused] == ["a", "c", "b", "d"]
    for doc, score in fused:
        assert score == pytest.approx(expect[doc])
    # k = 0 and a heavier dense list change the order: c (dense rank 1) overtakes a
    assert [d for d, _ in reciprocal_rank_fusion([bm25, dense], k=0, weights=[1.0, 3.0])][:2] == ["c", "a"]
    # depth reads only the top of each list
    assert {d for d, _ in reciprocal_rank_fusion([bm25, dense], depth=1)} == {"a", "c"}


def test_rrf_ties_break_by_best_rank_then_id():
    fused = reciprocal_rank_fusion([["b", "a"], ["a", "b"]])  # equal scores, equal best ranks
    assert [d for d, _ in fused] == ["a", "b"]
    runs = fuse_runs([{"q": ["x", "y"]}, {"q": ["y"], "r": ["z"]}], top=1)
    assert runs == {"q": ["y"], "r": ["z"]}


def test_validation_split_is_deterministic_disjoint_and_whole_queries():
    train = {f"q{i}": {f"d{i}": 1, f"e{i}": 1} for i in range(100)}
    fit, val = validation_split(train)
    assert len(val) == 20 and len(fit) == 80
    assert not set(fit) & set(val) and set(fit) | set(val) == set(train)
    assert val == validation_split(dict(reversed(list(train.items()))))[1]  # independent of input order
    assert val != validation_split(train, seed=1)[1]

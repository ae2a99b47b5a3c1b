"""HNSW recall against exact search (and that the measure can fail), and the index folder round trip."""
from __future__ import annotations

import json

import numpy as np
import pytest

from shared.engine.search.index import HNSWIndex, HNSWParams, exact_search, recall_vs_exact


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    return _unit(rng, 3000, 64), _unit(rng, 200, 64)


def test_hnsw_recall_on_random_vectors(data):
    docs, queries = data
    index = HNSWIndex.build(docs, [f"d{i}" for i in range(len(docs))], HNSWParams(m=32, ef_construction=200,
                                                                                   ef_search=128))
    assert recall_vs_exact(index, docs, queries, k=10) >= 0.99


def test_recall_measure_detects_a_poor_graph(data):
    docs, queries = data
    index = HNSWIndex.build(docs, [f"d{i}" for i in range(len(docs))], HNSWParams(m=2, ef_construction=4,
                                                                                   ef_search=1))
    assert recall_vs_exact(index, docs, queries, k=10) < 0.9


def test_exact_search_is_inner_product_order(data):
    docs, queries = data
    scores, rows = exact_search(docs, queries[:3], 5)
    brute = queries[:3] @ docs.T
    np.testing.assert_array_equal(rows, np.argsort(-brute, axis=1)[:, :5])
    np.testing.assert_allclose(scores, np.take_along_axis(brute, rows, 1), rtol=1e-5)


def test_save_load_round_trip(tmp_path, data):
    docs, queries = data
    ids = [f"doc-{i}" for i in range(len(docs))]
    index = HNSWIndex.build(docs, ids, HNSWParams(m=16, ef_construction=100, ef_search=64))
    index.save(tmp_path / "idx", extra={"encoder": "test"})
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert (manifest["m"], manifest["ef_construction"], manifest["ef_search"]) == (16, 100, 64)
    assert manifest["count"] == len(docs) and manifest["dim"] == 64 and manifest["extra"] == {"encoder": "test"}
    loaded = HNSWIndex.load(tmp_path / "idx")
    assert loaded.params == index.params and loaded.doc_ids == ids
    assert loaded.search_ids(queries, 10) == index.search_ids(queries, 10)


def test_load_refuses_a_tampered_folder(tmp_path, data):
    docs, _ = data
    HNSWIndex.build(docs[:100], [str(i) for i in range(100)]).save(tmp_path / "idx")
    (tmp_path / "idx" / "doc_ids.json").write_text(json.dumps([str(i) for i in reversed(range(100))]))
    with pytest.raises(ValueError, match="manifest hash"):
        HNSWIndex.load(tmp_path / "idx")

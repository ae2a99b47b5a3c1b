"""The two-tower ranker: learns what popularity cannot, serves from ONNX without torch, embeds any history at request
time, and round-trips its artifact."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shared.engine.data import InteractionDataset, stratified_random_split
from shared.engine.metrics import evaluate_full_ranking
from shared.engine.rankers import (
    UNKNOWN_SCORE,
    Ranker,
    RankerError,
    TwoTowerRanker,
    create_ranker,
    load_ranker,
)
from shared.engine.towers.features import (
    item_texts,
    ordered_histories,
    pad_histories,
    text_fields,
)
from tests.unit.engine.synthetic import clustered_interactions

ROOT = Path(__file__).resolve().parents[3]
# small and fast: ~1,000 training pairs, a few hundred optimiser steps; history dropout teaches the user tower to
# read short histories (a new user's two likes)
FAST = {"dim": 16, "emb_dim": 16, "hidden": 32, "max_history": 20, "epochs": 25, "batch_size": 64, "lr": 1e-2,
        "temperature": 0.1, "history_dropout": 0.3, "use_text": False, "num_threads": 1, "seed": 7}
N_USERS, N_ITEMS = 120, 60  # users u00-u59 like items i00-i29, users u60-u119 items i30-i59


@pytest.fixture(scope="module")
def data() -> InteractionDataset:
    return clustered_interactions(n_users=N_USERS, n_items=N_ITEMS, per_user=12, seed=3)


@pytest.fixture(scope="module")
def split(data):
    return stratified_random_split(data, 0.7, seed=0)


@pytest.fixture(scope="module")
def fitted(split) -> TwoTowerRanker:
    return create_ranker("two_tower", **FAST).fit(split.train)


def _cluster_items(c: int) -> list[str]:
    half = N_ITEMS // 2
    return [f"i{i:02d}" for i in (range(half) if c == 0 else range(half, N_ITEMS))]


def test_importing_and_serving_never_load_torch(fitted, tmp_path):
    path = fitted.save(tmp_path / "tt.npz")
    code = (
        "import sys, json\n"
        "import shared.engine.rankers.two_tower\n"
        "after_import = 'torch' in sys.modules\n"
        "from shared.engine.rankers import load_ranker\n"
        f"r = load_ranker({str(path)!r})\n"
        "s = r.score('u00', ['i00', 'i40'])\n"
        "h = r.score('new', ['i00', 'i40'], {'history': ['i41', 'i42']})\n"
        "v = r.embed_history(['i01'])\n"
        "print(json.dumps({'import': after_import, 'serve': 'torch' in sys.modules, 'ok': bool(s[0] > s[1]),"
        " 'hist': bool(h[1] > h[0])}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"import": False, "serve": False, "ok": True, "hist": True}


def test_learns_the_clusters_and_beats_popularity_on_held_out_items(fitted, split):
    pop = evaluate_full_ranking(create_ranker("popularity").fit(split.train), split, ks=(5,), n_resamples=300)
    tt = evaluate_full_ranking(fitted, split, ks=(5,), n_resamples=300)
    assert tt.metrics["hr@5"].low > pop.metrics["hr@5"].high
    cmp = tt.compare(pop, "ndcg@5")
    assert cmp.significant and cmp.diff > 0.08
    # the ceiling is a random order of the user's own cluster (~3.6 held-out items among ~22): hr@5 ~ 0.7
    assert tt.metrics["hr@5"].mean > 0.6
    users = [str(u) for u in split.test.user_ids[np.unique(split.test.users)]]
    own = [int(r.item_id[1:]) < N_ITEMS // 2 for u in users for r in fitted.recommend(u, k=5)
           if int(u[1:]) < N_USERS // 2] + [int(r.item_id[1:]) >= N_ITEMS // 2 for u in users
                                            for r in fitted.recommend(u, k=5) if int(u[1:]) >= N_USERS // 2]
    assert np.mean(own) > 0.97
    for user, own in (("u00", _cluster_items(0)), (f"u{N_USERS - 1}", _cluster_items(1))):
        recs = fitted.recommend(user, k=5)
        assert len(recs) == 5 and {r.item_id for r in recs} <= set(own)
        assert not {r.item_id for r in recs} & fitted.seen_items(user)
        assert all(r.served_by == fitted.served_by for r in recs)


def test_context_history_is_embedded_at_request_time(fitted):
    items = _cluster_items(0)[:10] + _cluster_items(1)[:10]
    base = fitted.score("u00", items)  # a cluster-0 user from training
    assert base[:10].mean() > base[10:].mean()
    # the same user, whose history has since moved to the other cluster
    moved = fitted.score("u00", items, {"history": _cluster_items(1)[20:26]})
    assert moved[10:].mean() > moved[:10].mean()
    assert not np.allclose(moved, base)
    # a new user with two likes, and unknown ids in the history are ignored
    new = fitted.score("stranger", items, {"history": ["nope", "i31", "i35"]})
    assert new[10:].min() > new[:10].max()
    recs = fitted.recommend("stranger", k=5, context={"history": ["i31", "i35"]})
    assert {r.item_id for r in recs} <= set(_cluster_items(1)) - {"i31", "i35"} and len(recs) == 5
    # context history items are excluded from recommendations too, for a known user
    hist = _cluster_items(0)[:8]
    recs = fitted.recommend("u00", k=10, context={"history": hist})
    assert not {r.item_id for r in recs} & (set(hist) | fitted.seen_items("u00"))


def test_unknown_user_without_history_and_unknown_items_score_unknown(fitted):
    assert (fitted.score("stranger", ["i00", "i40"]) == UNKNOWN_SCORE).all()
    assert (fitted.score("stranger", ["i00"], {"history": []}) == UNKNOWN_SCORE).all()
    assert (fitted.score("stranger", ["i00"], {"history": ["nope"]}) == UNKNOWN_SCORE).all()
    s = fitted.score("u00", ["i00", "not-an-item"])
    assert s[0] > UNKNOWN_SCORE and s[1] == UNKNOWN_SCORE
    # recommend() keeps the matrix rankers' contract: a labelled popularity fallback
    recs = fitted.recommend("stranger", k=3)
    assert len(recs) == 3 and all(r.served_by.endswith("/popularity-fallback") for r in recs)


def test_embeddings_for_the_serving_layer(fitted):
    vecs = fitted.item_vectors
    assert vecs.shape == (len(fitted.item_ids), FAST["dim"]) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError):
        vecs[0, 0] = 1.0  # read-only view
    one = fitted.embed_history(["i01", "i02"])
    many = fitted.embed_histories([["i01", "i02"], ["i40"], []])
    assert one.shape == (FAST["dim"],) and many.shape == (3, FAST["dim"])
    np.testing.assert_allclose(many[0], one, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(many, axis=1), 1.0, atol=1e-5)
    # score() is the cosine of the two towers' outputs
    s = fitted.score("x", ["i03", "i44"], {"history": ["i01", "i02"]})
    np.testing.assert_allclose(s, vecs[fitted.item_codes(["i03", "i44"])] @ one, atol=1e-6)
    # a known user's vector comes from their training history
    u = fitted.embed_history(fitted.training_history("u05"))
    np.testing.assert_allclose(fitted.score("u05", ["i03"]), vecs[fitted.item_codes(["i03"])] @ u, atol=1e-6)


def test_artifact_round_trip_gives_identical_scores(fitted, tmp_path):
    items = ["i00", "i07", "i33", "i59", "nope"]
    loaded = load_ranker(fitted.save(tmp_path / "two_tower.npz"))
    assert type(loaded) is TwoTowerRanker and loaded.version == fitted.version and loaded.params == fitted.params
    np.testing.assert_array_equal(loaded.score("u03", items), fitted.score("u03", items))
    ctx = {"history": ["i40", "i41"]}
    np.testing.assert_array_equal(loaded.score("new", items, ctx), fitted.score("new", items, ctx))
    np.testing.assert_array_equal(loaded.item_vectors, fitted.item_vectors)
    assert [r.item_id for r in loaded.recommend("u03", 5)] == [r.item_id for r in fitted.recommend("u03", 5)]
    assert loaded.training_history("u03") == fitted.training_history("u03")
    assert Ranker.from_bytes(fitted.to_bytes()).version == fitted.version
    m = loaded.manifest
    assert m.params["temperature"] == FAST["temperature"] and m.trained_on["fingerprint"] == fitted.manifest.trained_on[
        "fingerprint"] and m.fit_seconds > 0


def test_onnx_user_tower_agrees_with_torch():
    torch = pytest.importorskip("torch")
    import onnxruntime as ort

    from shared.engine.towers.export import export_user_tower, parity_sample
    from shared.engine.towers.model import TwoTowerConfig, train_two_tower

    rng = np.random.default_rng(0)
    n_users, n_items = 50, 40
    indptr = np.arange(0, 8 * n_users + 1, 8)
    items = np.concatenate([rng.choice(n_items, 8, replace=False) for _ in range(n_users)]).astype(np.int32)
    text = rng.normal(size=(n_items, 12)).astype(np.float32)  # the text branch is in the graph too
    cfg = TwoTowerConfig(dim=8, emb_dim=8, hidden=16, max_history=10, epochs=2, batch_size=32, seed=1)
    model, log = train_two_tower(indptr, items, n_items, cfg, text)
    assert len(log["curve"]) == 2
    graph = export_user_tower(model)
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    hist = parity_sample(n_items, 10, seed=5)
    with torch.no_grad():
        expected = model.users(torch.from_numpy(hist)).numpy()
    got = session.run(None, {"history": hist})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_fitting_is_deterministic_and_versioned(split, fitted):
    again = create_ranker("two_tower", **FAST).fit(split.train)
    np.testing.assert_array_equal(again.item_vectors, fitted.item_vectors)
    assert again.version == fitted.version
    other = create_ranker("two_tower", **{**FAST, "seed": 8, "epochs": 2}).fit(split.train)
    assert other.version != fitted.version
    assert fitted.manifest.trained_on["text_fields"] == []


def test_parameters_are_checked(data):
    with pytest.raises(RankerError, match="unknown parameter"):
        create_ranker("two_tower", dimension=3)
    with pytest.raises(ValueError, match="no item text"):
        create_ranker("two_tower", **{**FAST, "use_text": True}).fit(data)


def test_histories_and_item_text_inputs():
    indptr, items = ordered_histories(users=[1, 0, 1, 1, 0], items=[5, 2, 3, 5, 4], n_users=3,
                                      timestamps=[30, 10, 10, 20, 5])
    assert list(indptr) == [0, 2, 4, 4]
    assert list(items[0:2]) == [4, 2] and list(items[2:4]) == [3, 5]  # oldest first; a repeat keeps its latest time
    assert pad_histories([np.array([1, 2, 3]), np.array([], dtype=np.int64)], 2).tolist() == [[2, 3], [0, 0]]
    feats = {"title": np.array(["Heat (1995)", "Up"], dtype=object),
             "genres": np.array(["Action|Crime", None], dtype=object),
             "tags": np.array(["['a', 'b']", ("c",)], dtype=object), "rating": np.array([1, 2], dtype=object)}
    assert text_fields(feats) == ["title", "genres", "tags"]
    assert item_texts(feats, np.array([0, 1]), ["title", "genres", "tags"]) == [
        "Heat (1995). Action, Crime. tags: a, b", "Up. tags: c"]


def test_item_text_goes_through_the_project_encoder(data):
    from shared.engine.embeddings.model_files import onnx_path

    if not onnx_path().exists():
        pytest.skip("the MiniLM encoder is not exported (python -m shared.engine.embeddings.export)")
    titled = InteractionDataset.from_columns(
        "titled", data.user_ids[data.users], data.item_ids[data.items], timestamps=data.timestamps,
        item_features={"title": {f"i{i:02d}": ("a quiet romantic comedy" if i < N_ITEMS // 2 else "a gory horror film")
                                 for i in range(N_ITEMS)}},
    )
    ranker = create_ranker("two_tower", **{**FAST, "use_text": True, "epochs": 3}).fit(titled)
    assert ranker.manifest.trained_on["text_fields"] == ["title"]
    assert ranker.manifest.trained_on["items_with_text"] == N_ITEMS
    assert ranker.manifest.trained_on["text_encoder"]
    plain = create_ranker("two_tower", **{**FAST, "epochs": 3}).fit(titled)
    assert plain.version != ranker.version and not np.allclose(plain.item_vectors, ranker.item_vectors)

"""Sequences, the leave-last-out split, the ranking protocol and SASRec on a pattern it must learn."""
from __future__ import annotations

import numpy as np
import pytest

from shared.engine.sequence.baselines import Popularity
from shared.engine.sequence.data import from_triples, leave_last_out, load_any
from shared.engine.sequence.protocol import full_ranking, sampled_ranking, summarise


def test_sequences_are_chronological_per_user_and_ties_keep_file_order():
    s = from_triples("t", users=[2, 1, 1, 2, 1], items=["b", "a", "c", "a", "b"], times=[5, 3, 1, 5, 3])
    assert list(s.users) == [1, 2] and list(s.item_ids) == ["a", "b", "c"]
    assert [list(q) for q in s.seqs] == [[3, 1, 2], [2, 1]]   # user 1: c(1) a(3) b(3); user 2: b a (a tie)


def test_leave_last_out_holds_out_the_last_two_and_drops_short_users():
    s = from_triples("t", users=[1] * 5 + [2] * 2, items=[1, 2, 3, 4, 5, 1, 2], times=list(range(7)))
    split = leave_last_out(s)
    assert len(split.train) == 1 and list(split.train[0]) == [1, 2, 3]
    assert (split.valid[0], split.test[0]) == (4, 5)
    assert list(split.history(0, for_test=True)) == [1, 2, 3, 4]


def test_csv_loader(tmp_path):
    f = tmp_path / "events.csv"
    f.write_text("user,item,timestamp\nu1,x,2\nu1,y,1\nu2,x,1\n")
    s = load_any(f)
    assert s.n_items == 2 and [list(q) for q in s.seqs] == [[2, 1], [1]]


def test_ranks_count_ties_against_the_target():
    def flat(users, hist):
        return np.zeros((len(users), 6))
    m = full_ranking(flat, [np.array([1])] * 3, np.array([1, 2, 3]))
    assert (m["acc@5"] == 1).all() and (m["acc@1"] == 0).all()  # rank 5 of 5: no credit for a tie

    def oracle(users, hist):
        out = np.zeros((len(users), 6))
        out[np.arange(len(users)), [1, 2, 3]] = 1.0
        return out
    m = full_ranking(oracle, [np.array([1])] * 3, np.array([1, 2, 3]))
    assert (m["acc@1"] == 1).all() and (m["mrr"] == 1).all()
    s = summarise(m)
    assert s["acc@1"]["mean"] == 1.0 and s["acc@1"]["ci95"] == [1.0, 1.0]


def test_sampled_ranking_draws_unseen_negatives():
    def prefer_low(users, hist):
        return -np.tile(np.arange(201, dtype=float), (len(users), 1))
    hist = [np.array([1, 2, 3])]
    m = sampled_ranking(prefer_low, hist, np.array([4]), n_items=200, n_negatives=100)
    assert m["hr@10"][0] == 1.0 and m["ndcg@10"][0] == 1.0  # 4 beats every unseen item (all > 4)


def test_sasrec_learns_a_sequential_pattern_popularity_cannot():
    torch = pytest.importorskip("torch")
    from shared.engine.sequence import sasrec

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n_items = 30
    seqs = []
    for u in range(120):  # each user walks the items in order from a random start: next = current + 1
        start = int(rng.integers(1, n_items + 1))
        seqs.append(np.array([(start + t - 1) % n_items + 1 for t in range(12)]))
    split = leave_last_out(from_triples("walk", np.repeat(np.arange(120), 12), np.concatenate(seqs),
                                        np.tile(np.arange(12), 120)))
    hist = [split.history(i, False) for i in range(len(split.train))]
    cfg = sasrec.SASRecConfig(hidden=32, blocks=1, maxlen=12, dropout=0.1, max_epochs=30, eval_every=5, patience=30)
    scorer, info = sasrec.train(split.train, split.n_items, cfg,
                                lambda m: float(full_ranking(m.scores, hist, split.valid)["acc@1"].mean()),
                                log=lambda _: None)
    test_hist = [split.history(i, True) for i in range(len(split.train))]
    learned = full_ranking(scorer.scores, test_hist, split.test)["acc@1"].mean()
    popular = full_ranking(Popularity(test_hist, split.n_items).scores, test_hist, split.test)["acc@1"].mean()
    assert learned > 0.8 > 0.2 > popular
    assert info["best_epoch"] > 0 and info["curve"]


def test_the_onnx_export_scores_like_torch_and_serving_needs_no_torch(tmp_path):
    torch = pytest.importorskip("torch")
    from shared.engine.sequence import sasrec
    from shared.engine.sequence.export import export_onnx
    from shared.engine.serving.sequence_onnx import OnnxSequenceScorer

    torch.manual_seed(0)
    model = sasrec.SASRec(40, sasrec.SASRecConfig(hidden=16, blocks=1, maxlen=10))
    path = export_onnx(model, tmp_path / "sasrec.onnx")
    histories = [np.array([3, 4, 5]), np.arange(1, 25), np.array([7])]
    want = sasrec.SASRecScorer(model).scores(np.arange(3), histories)
    got = OnnxSequenceScorer(path).scores(np.arange(3), histories)
    assert np.allclose(got[:, 1:], want[:, 1:], atol=1e-3) and np.isneginf(got[:, 0]).all()


def test_the_serving_scorer_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; import shared.engine.serving.sequence_onnx; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0

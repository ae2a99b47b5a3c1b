"""The user tower to ONNX, so that serving embeds histories with onnxruntime and never imports torch.

The graph takes `history`, a (batch, length) int64 array of item codes (1..n_items, left-padded with 0; both axes
dynamic, since mean pooling does not care how long the padding is) and returns `user`, (batch, dim) float32 unit
vectors. Export checks parity with torch (TwoTower.users, the path training used) on random histories (full,
short, single-item and empty, at two lengths) and refuses to return a graph that disagrees.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import torch

from shared.engine.embeddings.model_files import ONNX_OPSET
from shared.engine.towers.model import TwoTower, UserTower

PARITY_ATOL = 1e-4
INPUT_NAME = "history"
OUTPUT_NAME = "user"


def parity_sample(n_items: int, length: int, seed: int = 0) -> np.ndarray:
    """Histories that exercise the padding: full, half, one item, empty, and random lengths."""
    rng = np.random.default_rng(seed)
    sample = rng.integers(1, n_items + 1, size=(8, length)).astype(np.int64)
    sample[1, : length // 2] = 0
    sample[2, :-1] = 0
    sample[3, :] = 0
    for row in range(4, 8):
        sample[row, : int(rng.integers(0, length))] = 0
    return sample


def export_user_tower(model: TwoTower, seed: int = 0) -> bytes:
    """The serialised ONNX graph of the user tower, after checking it against torch."""
    import onnxruntime as ort

    tower = UserTower(model).eval()  # eval: dropout off in the exported graph
    length = model.cfg.max_history
    sample = parity_sample(model.n_items, length, seed)
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # the TorchScript exporter (what SASRec's export uses too) warns that it is no longer the default
        warnings.simplefilter("ignore", DeprecationWarning)
        history = torch.from_numpy(sample)
        torch.onnx.export(tower, (history,), buf, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch", 1: "length"}, OUTPUT_NAME: {0: "batch"}},
                          opset_version=ONNX_OPSET, do_constant_folding=True, dynamo=False)
        reference = model.eval().users(history).numpy()  # the training-time path, not the fused tower
        longer = np.concatenate([np.zeros((len(sample), 7), dtype=np.int64), sample], axis=1)  # other length
    graph = buf.getvalue()
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: sample})[0]
    got_longer = session.run(None, {INPUT_NAME: longer})[0]
    diff = max(float(np.abs(got - reference).max()), float(np.abs(got_longer - reference).max()))
    if not diff <= PARITY_ATOL:
        raise RuntimeError(f"ONNX export of the user tower disagrees with torch (max |diff| {diff:.2e})")
    return graph

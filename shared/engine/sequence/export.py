"""SASRec to ONNX, so that serving scores sequences with onnxruntime and never imports torch.

The graph takes a (batch, maxlen) int64 array of left-padded item codes and returns (batch, n_items + 1)
scores for the next item (column 0 is padding). Export checks parity with torch on random histories and
refuses to write a graph that disagrees.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from shared.engine.embeddings.model_files import ONNX_OPSET
from shared.engine.sequence.sasrec import SASRec

PARITY_ATOL = 1e-3


class _NextItem(nn.Module):
    def __init__(self, model: SASRec):
        super().__init__()
        self.model = model

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        return self.model.logits(self.model(seq)[:, -1, :])


def export_onnx(model: SASRec, path: Path, seed: int = 0) -> Path:
    import onnxruntime as ort

    wrapper = _NextItem(model).eval()  # the export follows the wrapper's mode: in training mode dropout is live
    n_items, maxlen = model.items.num_embeddings - 1, model.cfg.maxlen
    rng = np.random.default_rng(seed)
    sample = rng.integers(1, n_items + 1, size=(4, maxlen))
    sample[0, : maxlen // 2] = 0     # a short history: left padding must behave as in torch
    seq = torch.from_numpy(sample.astype(np.int64))
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(wrapper, (seq,), str(path), input_names=["items"], output_names=["scores"],
                          dynamic_axes={"items": {0: "batch"}, "scores": {0: "batch"}},
                          opset_version=ONNX_OPSET, do_constant_folding=True, dynamo=False)
        reference = wrapper(seq).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"items": sample})[0]
    if not np.allclose(got, reference, atol=PARITY_ATOL):
        path.unlink(missing_ok=True)
        raise RuntimeError(f"ONNX export of SASRec disagrees with torch (max |diff| {np.abs(got - reference).max()})")
    return path

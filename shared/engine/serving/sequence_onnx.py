"""Next-item scores from an exported SASRec graph (sequence/export.py) with onnxruntime: the serving side of
the sequence model, without torch. Same `scores(users, histories)` shape as the training-time scorer, so
the evaluation protocol can judge either."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from shared.engine.sequence.data import pad_left


class OnnxSequenceScorer:
    name = "sasrec-onnx"

    def __init__(self, path: Path):
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.maxlen = int(self.session.get_inputs()[0].shape[1])

    def scores(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        out = self.session.run(None, {"items": pad_left(histories, self.maxlen)})[0]
        out[:, 0] = -np.inf
        return out

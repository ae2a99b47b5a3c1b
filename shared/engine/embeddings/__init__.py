"""Text and vibe embeddings for any catalogue.

    encode(texts)        -> (n, 384) float32, L2-normalised all-MiniLM-L6-v2 sentence embeddings (onnxruntime)
    vibe_vectors(texts)  -> (n, 64)  float32, L2-normalised vibe embeddings (PCA projection of the above)
    to_vibe(embeddings)  -> (n, 64)  the projection alone, for callers that already hold 384-d vectors

No torch here: the ONNX graph is exported once by `python -m shared.engine.embeddings.export`.
`EMBEDDING_VERSION` names the pair (encoder export, projection) and is stored with every vector.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shared.engine.embeddings.model_files import EXPORT_VERSION, TEXT_DIM
from shared.engine.embeddings.vibe import PROJECTION_VERSION, VIBE_DIM, get_projection

EMBEDDING_VERSION = f"{EXPORT_VERSION}+{PROJECTION_VERSION}"

__all__ = ["encode", "vibe_vectors", "to_vibe", "TEXT_DIM", "VIBE_DIM", "EMBEDDING_VERSION"]


def encode(texts: Sequence[str]) -> np.ndarray:
    from shared.engine.embeddings.encoder import get_encoder

    return get_encoder().encode(list(texts))


def to_vibe(embeddings: np.ndarray) -> np.ndarray:
    return get_projection().project(embeddings)


def vibe_vectors(texts: Sequence[str]) -> np.ndarray:
    return to_vibe(encode(texts))

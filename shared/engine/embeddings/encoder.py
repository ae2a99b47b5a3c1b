"""Sentence embeddings served with onnxruntime + tokenizers (no torch).

The maths mirrors sentence-transformers' all-MiniLM-L6-v2 pipeline: WordPiece tokenisation truncated at 256 tokens,
the BERT encoder (exported graph), attention-masked mean pooling, then L2 normalisation. Texts are sorted by length
before batching so padding is small; results come back in input order.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from shared.engine.embeddings.model_files import (
    MAX_SEQ_LENGTH,
    TEXT_DIM,
    ModelNotExported,
    onnx_path,
    tokenizer_path,
)


def mean_pool_normalize(token_embeddings: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    mask = attention_mask[..., None].astype(np.float32)
    summed = (token_embeddings * mask).sum(axis=1)
    counts = np.clip(mask.sum(axis=1), 1e-9, None)
    pooled = summed / counts
    norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
    return (pooled / norms).astype(np.float32)


class OnnxSentenceEncoder:
    def __init__(self, model_dir: Path | None = None, *, threads: int | None = None, batch_size: int = 32) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        onnx_file, tok_file = onnx_path(model_dir), tokenizer_path(model_dir)
        if not onnx_file.exists() or not tok_file.exists():
            raise ModelNotExported(
                f"the sentence encoder is not exported at {onnx_file.parent}; run "
                "`python -m shared.engine.embeddings.export` once (needs the trainer extras)"
            )
        opts = ort.SessionOptions()
        n = threads or int(os.environ.get("CONCIERGE_ORT_THREADS", "0") or 0)
        if n:
            opts.intra_op_num_threads = n
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(onnx_file), sess_options=opts, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tok_file))
        self._tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
        self._tokenizer.no_padding()
        self.batch_size = batch_size
        self.dim = TEXT_DIM

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, TEXT_DIM), dtype=np.float32)
        encodings = self._tokenizer.encode_batch([t if t else " " for t in texts])
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        out = np.zeros((len(texts), TEXT_DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = [encodings[i] for i in idx]
            width = max(len(e.ids) for e in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            types = np.zeros((len(batch), width), dtype=np.int64)
            for row, e in enumerate(batch):
                n = len(e.ids)
                ids[row, :n] = e.ids
                mask[row, :n] = e.attention_mask
                types[row, :n] = e.type_ids
            tokens = self._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
            out[idx] = mean_pool_normalize(tokens, mask)
        return out


_lock = threading.Lock()
_encoders: dict[str, OnnxSentenceEncoder] = {}


def get_encoder(model_dir: Path | None = None) -> OnnxSentenceEncoder:
    """One encoder per process (the ONNX session is thread-safe for run())."""
    key = str(onnx_path(model_dir))
    with _lock:
        enc = _encoders.get(key)
        if enc is None:
            enc = OnnxSentenceEncoder(model_dir)
            _encoders[key] = enc
        return enc

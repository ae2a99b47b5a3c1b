"""Answer one query from a loaded bundle: dense (HNSW), hybrid (BM25 + HNSW, reciprocal-rank fusion), or the
BM25-only fallback, and always say which one answered and why a fallback did.

Why a labelled fallback instead of an error: BM25 needs no model, so a missing or broken encoder or index still
leaves a useful (if weaker) answer; shared.engine.serving.router's rule applies: a reason on every fallback.
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.engine.search.hybrid import reciprocal_rank_fusion

MODES = ("dense", "hybrid")
HYBRID_DEPTH = 100   # how deep each ranking is read before fusion (the benchmark's depth)


@dataclass
class Answer:
    rows: list[tuple[int, float]]   # (document row, score), best first
    served_by: str                  # "dense" | "hybrid" | "bm25-fallback"
    fallback_reason: str | None = None
    score_kind: str = "cosine"


def bm25_rows(bm25, q: str, k: int) -> list[tuple[int, float]]:
    idx, scores = bm25.retrieve([q], k)
    return [(int(i), float(s)) for i, s in zip(idx[0], scores[0]) if i >= 0 and s > 0]


def dense_rows(bundle, q: str, depth: int) -> list[tuple[int, float]]:
    qv = bundle.encoder.encode([q])
    scores, rows = bundle.index.search(qv, depth)
    return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]


def answer(bundle, q: str, k: int, mode: str) -> Answer:
    """`bundle` is a LoadedBundle, or any object with .docs and .bm25 when it has no usable index (index None)."""
    index, encoder = getattr(bundle, "index", None), getattr(bundle, "encoder", None)
    if index is None or encoder is None:
        reason = getattr(bundle, "unavailable_reason", None) or getattr(bundle, "encoder_error", None) \
            or "no dense index loaded"
        return Answer(bm25_rows(bundle.bm25, q, k), "bm25-fallback", reason, "bm25")
    if mode == "dense":
        return Answer(dense_rows(bundle, q, k), "dense")
    dense = dense_rows(bundle, q, max(k, HYBRID_DEPTH))
    lexical = bm25_rows(bundle.bm25, q, max(k, HYBRID_DEPTH))
    fused = reciprocal_rank_fusion([[str(r) for r, _ in dense], [str(r) for r, _ in lexical]])[:k]
    return Answer([(int(r), s) for r, s in fused], "hybrid", None, "rrf")


class LexicalOnly:
    """What serves when no index can be loaded: BM25 over the corpus' documents, with the reason."""

    index = None
    encoder = None
    version = None
    model_version = None

    def __init__(self, docs, reason: str) -> None:
        from shared.engine.search.bundle import bm25_over

        self.docs, self.unavailable_reason = docs, reason
        self.bm25 = bm25_over(docs)

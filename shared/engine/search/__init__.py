"""Semantic search over a document collection: BM25, dense retrieval with an HNSW index, and their fusion.

Offline core only: the data loaders (SciFact, the benchmark collection), BEIR-compatible metrics, the indexes and
rank fusion. Nothing here imports torch, so a serving image can use it with onnxruntime alone; the MoCo
fine-tuning lives in vertex/trainer/moco.py and the hyper-parameter study in shared.engine.search.hpo.
"""

"""Approximate nearest-neighbour search with faiss' HNSW graph, and its recall against exact search.

Vectors are L2-normalised sentence embeddings, so inner product is cosine similarity: IndexHNSWFlat with
METRIC_INNER_PRODUCT answers the same question as the exact IndexFlatIP, only faster on large collections.
The build parameters (M, efConstruction) and the query-time efSearch are recorded with the index because recall
depends on them; save() writes them to manifest.json beside the faiss file and the document ids, with hashes,
so load() can refuse a folder whose parts do not belong together.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from shared.engine.embeddings.export import sha256_file

INDEX_FILE = "index.faiss"
IDS_FILE = "doc_ids.json"
MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class HNSWParams:
    m: int = 32                 # graph degree: more edges, better recall, more memory
    ef_construction: int = 200  # candidate list while inserting: a better graph for a slower build
    ef_search: int = 128        # candidate list while searching: the recall/latency knob at query time


def _faiss():
    import faiss

    return faiss


def _as_matrix(vectors: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError("expected a 2-D matrix of vectors")
    return x


class HNSWIndex:
    """An IndexHNSWFlat (inner product) over normalised vectors, with the document id of every row."""

    def __init__(self, index, doc_ids: Sequence[str], params: HNSWParams) -> None:
        if index.ntotal != len(doc_ids):
            raise ValueError(f"index holds {index.ntotal} vectors but {len(doc_ids)} ids were given")
        self.index, self.doc_ids, self.params = index, list(doc_ids), params
        self.set_ef_search(params.ef_search)

    @classmethod
    def build(cls, vectors: np.ndarray, doc_ids: Sequence[str], params: HNSWParams = HNSWParams()) -> HNSWIndex:
        faiss = _faiss()
        x = _as_matrix(vectors)
        index = faiss.IndexHNSWFlat(x.shape[1], params.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params.ef_construction
        index.add(x)
        return cls(index, doc_ids, params)

    @property
    def dim(self) -> int:
        return self.index.d

    def __len__(self) -> int:
        return self.index.ntotal

    def set_ef_search(self, ef_search: int) -> None:
        self.index.hnsw.efSearch = ef_search
        self.params = HNSWParams(self.params.m, self.params.ef_construction, ef_search)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, row numbers), each (n_queries, k); -1 rows where fewer than k were found."""
        scores, rows = self.index.search(_as_matrix(queries), min(k, len(self)))
        return scores, rows

    def search_ids(self, queries: np.ndarray, k: int) -> list[list[str]]:
        _, rows = self.search(queries, k)
        return [[self.doc_ids[j] for j in row if j >= 0] for row in rows]

    def manifest(self) -> dict:
        faiss = _faiss()
        return {"format_version": FORMAT_VERSION, "kind": "IndexHNSWFlat", "metric": "inner_product",
                "dim": self.dim, "count": len(self), **asdict(self.params), "faiss_version": faiss.__version__}

    def save(self, directory: Path, extra: dict | None = None) -> Path:
        """Write index.faiss, doc_ids.json and manifest.json (parameters, counts, file hashes, `extra`)."""
        faiss = _faiss()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(directory / INDEX_FILE))
        (directory / IDS_FILE).write_text(json.dumps(self.doc_ids))
        manifest = {**self.manifest(), "index_sha256": sha256_file(directory / INDEX_FILE),
                    "doc_ids_sha256": sha256_file(directory / IDS_FILE), **({"extra": extra} if extra else {})}
        (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: Path) -> HNSWIndex:
        faiss = _faiss()
        directory = Path(directory)
        manifest = json.loads((directory / MANIFEST_FILE).read_text())
        if manifest.get("format_version") != FORMAT_VERSION or manifest.get("kind") != "IndexHNSWFlat":
            raise ValueError(f"{directory}: not an index this code wrote ({manifest.get('kind')!r})")
        for name, key in ((INDEX_FILE, "index_sha256"), (IDS_FILE, "doc_ids_sha256")):
            if sha256_file(directory / name) != manifest[key]:
                raise ValueError(f"{directory / name} does not match its manifest hash; rebuild the index")
        index = faiss.read_index(str(directory / INDEX_FILE))
        doc_ids = json.loads((directory / IDS_FILE).read_text())
        params = HNSWParams(manifest["m"], manifest["ef_construction"], manifest["ef_search"])
        if index.d != manifest["dim"] or index.ntotal != manifest["count"]:
            raise ValueError(f"{directory}: index shape disagrees with the manifest")
        return cls(index, doc_ids, params)


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force inner-product top-k (IndexFlatIP): the ground truth HNSW is measured against."""
    faiss = _faiss()
    x = _as_matrix(vectors)
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    return flat.search(_as_matrix(queries), min(k, len(x)))


def recall_vs_exact(index: HNSWIndex, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    """Mean over queries of |HNSW top-k ∩ exact top-k| / k: how much of the true neighbourhood HNSW finds."""
    _, truth = exact_search(vectors, queries, k)
    _, approx = index.search(queries, k)
    hits = [len(set(t[t >= 0]) & set(a[a >= 0])) / max(1, int((t >= 0).sum())) for t, a in zip(truth, approx)]
    return float(np.mean(hits))

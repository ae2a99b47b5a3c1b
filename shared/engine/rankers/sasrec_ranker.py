"""SASRec on our own signals, behind the ranker interface: what a traveller accepts next, from the order of what
they accepted before.

Why a separate ranker from shared.engine.sequence: that package trains and judges SASRec on check-in datasets
(bench/sequence_bench.py); this one fits it on the signals export, so that jobs/learn can train it, the gates can
judge it on answered candidate sets, and trips can serve it like any other ML model.

Fitting (training only, torch): each user's accepts in time order are their history; the last accept of every
user with at least MIN_VALIDATION_HISTORY of them is held out to choose the number of epochs (early stopping on
HR@10 over all venues), and the model keeps the weights of its best epoch. The network is exported to ONNX and
the graph's bytes travel in the artifact, so that scoring needs onnxruntime only (serving never imports torch).
The artifact also carries each user's last `maxlen` accepts: scoring a user reads the history they had when the
model was trained (the nightly retrain moves it on). A user with no accepts, or a venue the model never saw,
gets UNKNOWN_SCORE, which the ML adapter turns into "rank last" or a labelled heuristic fallback.
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from shared.engine.data.dataset import InteractionDataset
from shared.engine.rankers.base import UNKNOWN_SCORE, Manifest, Ranker, RankerError, params_version, register_ranker

MIN_VALIDATION_HISTORY = 3   # accepts a user needs before their last one is held out for early stopping
VALIDATION_K = 10


@register_ranker
class SASRecRanker(Ranker):
    name: ClassVar[str] = "sasrec"
    defaults: ClassVar[dict[str, Any]] = {"hidden": 64, "blocks": 2, "heads": 1, "maxlen": 50, "dropout": 0.2,
                                          "lr": 1e-3, "batch_size": 64, "max_epochs": 60, "patience": 8,
                                          "eval_every": 2, "seed": 0}

    def __init__(self, **params: Any) -> None:
        super().__init__(**{**self.defaults, **params})
        self._session = None

    def fit(self, dataset: InteractionDataset) -> SASRecRanker:
        import tempfile
        from pathlib import Path

        from shared.engine.sequence.export import export_onnx
        from shared.engine.sequence.sasrec import SASRecConfig, train

        started = time.perf_counter()
        histories, item_ids, user_ids = _accept_histories(dataset)
        if not histories or sum(len(h) > 1 for h in histories) == 0:
            raise RankerError(f"{self.name}: {dataset.name} has no user with two accepts to learn an order from")
        cfg = SASRecConfig(**{k: self.params[k] for k in self.defaults if k != "maxlen"},
                           maxlen=int(self.params["maxlen"]), loss="ce")
        held = [i for i, h in enumerate(histories) if len(h) >= MIN_VALIDATION_HISTORY]
        fit_on = [h[:-1] if i in set(held) else h for i, h in enumerate(histories)]

        def validate(scorer) -> float:
            if not held:
                return 0.0
            scores = scorer.scores(np.array(held), [fit_on[i] for i in held])
            target = np.array([histories[i][-1] for i in held])
            rank = (scores > scores[np.arange(len(held)), target][:, None]).sum(axis=1)
            return float((rank < VALIDATION_K).mean())

        scorer, curve = train(fit_on, len(item_ids), cfg, validate, log=lambda _m: None)
        with tempfile.TemporaryDirectory(prefix="sasrec-") as tmp:
            graph = export_onnx(scorer.model, Path(tmp) / "sasrec.onnx")
            self.graph = np.frombuffer(graph.read_bytes(), dtype=np.uint8)
        self.item_ids = np.asarray(item_ids, dtype=str)
        self.user_ids = np.asarray(user_ids, dtype=str)
        self.histories = _padded(histories, cfg.maxlen)
        self._index()
        trained_on = {"dataset": dataset.name, "fingerprint": dataset.fingerprint, "users": len(user_ids),
                      "items": len(item_ids), "accepts": int(sum(len(h) for h in histories)),
                      "validation_users": len(held), "best_epoch": curve["best_epoch"],
                      f"validation_hr@{VALIDATION_K}": curve["best_valid"]}
        self.version = params_version(self.name, self.params, trained_on)
        self.manifest = Manifest(self.name, self.version, dict(self.params), trained_on,
                                 round(time.perf_counter() - started, 3))
        return self

    def _index(self) -> None:
        self._user = {u: k for k, u in enumerate(self.user_ids)}
        self._code = {i: k + 1 for k, i in enumerate(self.item_ids)}  # code 0 is padding

    def _scores_for(self, row: int) -> np.ndarray:
        if self._session is None:
            import onnxruntime as ort

            self._session = ort.InferenceSession(self.graph.tobytes(), providers=["CPUExecutionProvider"])
        return self._session.run(None, {"items": self.histories[row:row + 1].astype(np.int64)})[0][0]

    def score(self, user: str, items: Sequence[str], context: Mapping[str, Any] | None = None) -> np.ndarray:
        if self.manifest is None:
            raise RankerError(f"{self.name}: fit or load before scoring")
        out = np.full(len(items), UNKNOWN_SCORE, dtype=np.float64)
        row = self._user.get(user)
        if row is None:
            return out
        logits = self._scores_for(row)
        for r, item in enumerate(items):
            code = self._code.get(item)
            if code is not None:
                out[r] = float(logits[code])
        return out

    def seen_items(self, user: str) -> set[str]:
        row = self._user.get(user)
        if row is None:
            return set()
        return {str(self.item_ids[c - 1]) for c in self.histories[row] if c > 0}

    def state(self) -> dict[str, np.ndarray]:
        return {"graph": self.graph, "item_ids": self.item_ids, "user_ids": self.user_ids,
                "histories": self.histories}

    def restore(self, manifest: Manifest, arrays: Mapping[str, np.ndarray]) -> None:
        for key in ("graph", "item_ids", "user_ids", "histories"):
            setattr(self, key, np.asarray(arrays[key]))
        self._session = None
        self._index()


def _accept_histories(dataset: InteractionDataset) -> tuple[list[np.ndarray], list[str], list[str]]:
    """Per user, the codes (1-based) of the venues they accepted, in time order; venues and users without an
    accept are left out."""
    from shared.engine.events.schema import POSITIVE_TYPES

    kinds = dataset.context.get("signal_type")
    if kinds is None:
        raise RankerError(f"{dataset.name} has no signal types (our signals only)")
    rows = np.flatnonzero(np.isin(kinds, list(POSITIVE_TYPES)))
    if dataset.timestamps is not None:  # else the rows' own order is their time order
        rows = rows[np.argsort(dataset.timestamps[rows], kind="stable")]
    items = sorted({dataset.item_ids[i] for i in dataset.items[rows]})
    code = {item: k + 1 for k, item in enumerate(items)}
    by_user: dict[str, list[int]] = {}
    for r in rows:
        by_user.setdefault(dataset.user_ids[dataset.users[r]], []).append(code[dataset.item_ids[dataset.items[r]]])
    users = sorted(by_user)
    return [np.array(by_user[u], dtype=np.int64) for u in users], items, users


def _padded(histories: list[np.ndarray], maxlen: int) -> np.ndarray:
    from shared.engine.sequence.data import pad_left

    return pad_left(histories, maxlen).astype(np.int64)

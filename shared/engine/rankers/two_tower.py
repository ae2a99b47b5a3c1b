"""A trained two-tower retrieval model behind the ranker interface, served without torch.

The model (shared.engine.towers.model) has an item tower (item-id embedding + a learned projection of the item's
frozen MiniLM text embedding + an MLP) and a user tower (the user's last `max_history` items mean-pooled through
item embeddings + an MLP), both L2-normalised; a score is their cosine. It is trained with an in-batch sampled
softmax (temperature, logQ popularity correction) on (history minus one item -> that item) examples; the model's
docstring says why.

After training, the item tower is run once over every training item (`item_vectors`, a float32 matrix aligned with
`item_ids`) and the user tower is exported to ONNX (bytes, parity-checked against torch). The artifact holds those,
the users' ordered training histories and the hyper-parameters; scoring is numpy + onnxruntime. torch is imported
only by `fit`.

Who gets what:
- score(user, items, context): with context["history"] (item ids, most recent last) holding at least one item the
  model knows, that history is embedded (a user whose history changed since training, or a new user); otherwise a
  known user's training history; otherwise (unknown user, no usable history) UNKNOWN_SCORE for every item, so the
  caller falls back. Items outside the training catalogue always score UNKNOWN_SCORE.
- recommend(user, k): the whole catalogue, minus the user's training items and any context history. Like every
  matrix ranker, an unknown user without history gets the popularity ranking, labelled
  "two_tower@<version>/popularity-fallback" (that is also what the offline evaluation counts for such users).
- embed_history(item_ids) / embed_histories(...): user vectors for the serving layer (batch, cold start, ANN query);
  a history with no known item gives the model's prior (its user tower on an empty history).
"""
from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from shared.engine.data.dataset import InteractionDataset
from shared.engine.rankers.base import (
    UNKNOWN_SCORE,
    Recommendation,
    params_version,
    register_ranker,
)
from shared.engine.rankers.matrix import CompactRows, MatrixRanker
from shared.engine.towers.features import (
    encode_texts,
    item_texts,
    ordered_histories,
    pad_histories,
    text_fields,
)

ONNX_INPUT = "history"  # the graph's input and output names (shared.engine.towers.export)
ONNX_OUTPUT = "user"


@register_ranker
class TwoTowerRanker(MatrixRanker):
    """Hyper-parameters (all JSON-serialisable, all in the manifest; unknown names are refused):

    - dim (64): output dimension of both towers; emb_dim (64): id-embedding and text-projection width; hidden (256):
      MLP width; dropout (0): in the MLPs; share_embeddings (True): the history table is the item-id table.
    - max_history (50): how many of a history's most recent items the user tower reads when serving;
      train_history (None = max_history): how many a training example samples from the user's history;
      history_dropout (0.3): share of a training example's history hidden from the user tower (denoising: it
      teaches the tower to complete a partial history, which is what a test split and a new user both ask).
    - temperature (0.05), logq (True: popularity correction), mask_seen_negatives (True: an in-batch item the user
      already has is not a negative for them), extra_negatives (0: in-batch negatives only; n: also n uniformly
      drawn items per batch): the sampled softmax.
    - epochs (10), batch_size (1024), lr (3e-3), weight_decay (0): Adam.
    - use_text ("auto": when the dataset has item text; True: require it; False: ids only), text_fields (None: every
      text column of item_features, title/name first; or a list of column names).
    - seed (42), num_threads (2: torch while training, onnxruntime while scoring).
    """

    name: ClassVar[str] = "two_tower"
    defaults: ClassVar[dict[str, Any]] = {
        "dim": 64,
        "emb_dim": 64,
        "hidden": 256,
        "max_history": 50,
        "train_history": None,
        "share_embeddings": True,
        "dropout": 0.0,
        "history_dropout": 0.3,
        "temperature": 0.05,
        "logq": True,
        "mask_seen_negatives": True,
        "extra_negatives": 0,
        "epochs": 10,
        "batch_size": 1024,
        "lr": 3e-3,
        "weight_decay": 0.0,
        "use_text": "auto",
        "text_fields": None,
        "seed": 42,
        "num_threads": 2,
    }
    _model_keys: ClassVar[frozenset[str]] = frozenset(
        {"dim", "emb_dim", "hidden", "max_history", "train_history", "share_embeddings", "dropout", "history_dropout",
         "temperature", "logq", "mask_seen_negatives", "extra_negatives", "epochs", "batch_size", "lr",
         "weight_decay", "seed"}
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._item_vectors: np.ndarray | None = None
        self._onnx: bytes | None = None
        self._hist_indptr: np.ndarray | None = None
        self._hist_items: np.ndarray | None = None
        self._session = None
        self._session_lock = threading.Lock()
        self._fit_dataset: InteractionDataset | None = None
        self._fit_info: dict[str, Any] = {}
        self.training_log: dict[str, Any] = {}  # loss curve and timings of the last fit (not part of the artifact)
        self.on_epoch = None  # optional callback(epoch, ranker-like scorer) during fit, for validation curves

    # --- fit ----------------------------------------------------------------------------------------------------
    def fit(self, dataset: InteractionDataset) -> TwoTowerRanker:
        self._fit_dataset = dataset
        try:
            super().fit(dataset)
        finally:
            self._fit_dataset = None
        # what the text came from is part of what the model was trained on (and of its version)
        self.manifest.trained_on.update(self._fit_info)
        self.version = params_version(self.name, self.params, self.manifest.trained_on)
        self.manifest.version = self.version
        return self

    def _text_matrix(self, dataset: InteractionDataset) -> np.ndarray | None:
        use = self.params["use_text"]
        if use not in ("auto", True, False):
            raise ValueError("use_text must be 'auto', true or false")
        fields = self.params["text_fields"]
        if fields is None:
            fields = text_fields(dataset.item_features) if use is not False else []
        else:
            missing = [f for f in fields if f not in dataset.item_features]
            if missing:
                raise ValueError(f"{self.name}: {dataset.name} has no item feature(s) {missing}")
        if use is False or (use == "auto" and not fields):
            self._fit_info = {"text_fields": [], "text_encoder": None}
            return None
        if not fields:
            raise ValueError(f"{self.name}: use_text=True but {dataset.name} carries no item text")
        from shared.engine.embeddings.model_files import EXPORT_VERSION

        rows = np.fromiter((dataset.item_index[str(x)] for x in self.item_ids), np.int64, len(self.item_ids))
        texts = item_texts(dataset.item_features, rows, fields)
        self._fit_info = {"text_fields": list(fields), "text_encoder": EXPORT_VERSION,
                          "items_with_text": int(sum(1 for t in texts if t))}
        return encode_texts(texts)

    def _fit_matrix(self, X: sp.csr_matrix, rows: CompactRows) -> None:
        import torch

        from shared.engine.towers.export import export_user_tower
        from shared.engine.towers.model import TwoTowerConfig, train_two_tower

        dataset = self._fit_dataset
        if dataset is None:
            raise RuntimeError("TwoTowerRanker._fit_matrix is only called from fit()")
        text = self._text_matrix(dataset)
        self._hist_indptr, self._hist_items = ordered_histories(rows.users, rows.items, X.shape[0], rows.timestamps)
        cfg = TwoTowerConfig(**{k: self.params[k] for k in self._model_keys})
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(max(1, int(self.params["num_threads"])))
        try:
            callback = None
            if self.on_epoch is not None:
                def callback(epoch, model):  # a torch-side scorer, for validation curves during training
                    self._item_vectors = model.all_item_vectors()
                    self._torch_user_tower = model
                    try:
                        self.on_epoch(epoch, self)
                    finally:
                        self._torch_user_tower = None
            model, info = train_two_tower(self._hist_indptr, self._hist_items, len(self.item_ids), cfg, text,
                                          on_epoch=callback)
            self._item_vectors = model.all_item_vectors()
            self._onnx = export_user_tower(model, seed=cfg.seed)
        finally:
            torch.set_num_threads(previous_threads)
        self._session = None
        self.training_log = info

    # --- the user tower (onnxruntime) -------------------------------------------------------------------------------
    _torch_user_tower = None

    def _get_session(self):
        with self._session_lock:
            if self._session is None:
                import onnxruntime as ort

                opts = ort.SessionOptions()
                opts.intra_op_num_threads = max(1, int(self.params["num_threads"]))
                opts.inter_op_num_threads = 1
                self._session = ort.InferenceSession(self._onnx, sess_options=opts,
                                                     providers=["CPUExecutionProvider"])
            return self._session

    def _embed_codes(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """(n, dim) user vectors for histories of ranker item codes (0-based, oldest first)."""
        self._require_fitted()
        length = int(self.params["max_history"])
        padded = pad_histories([np.asarray(h, dtype=np.int64) + 1 for h in histories], length)
        if self._torch_user_tower is not None:  # during fit, before the ONNX graph exists
            import torch

            with torch.no_grad():
                return self._torch_user_tower.users(torch.from_numpy(padded)).numpy()
        out = np.empty((len(padded), self._item_vectors.shape[1]), dtype=np.float32)
        session = self._get_session()
        for start in range(0, len(padded), 4096):
            out[start:start + 4096] = session.run([ONNX_OUTPUT], {ONNX_INPUT: padded[start:start + 4096]})[0]
        return out

    def _history_codes(self, item_ids: Sequence[str]) -> np.ndarray:
        codes = self.item_codes([str(x) for x in item_ids])
        return codes[codes >= 0]

    def training_history(self, user: str) -> list[str]:
        """The user's distinct training items, oldest first ([] for an unknown user)."""
        u = self.user_code(user)
        if u < 0:
            return []
        return [str(x) for x in self.item_ids[self._hist_items[self._hist_indptr[u]:self._hist_indptr[u + 1]]]]

    def embed_history(self, item_ids: Sequence[str]) -> np.ndarray:
        """(dim,) float32 unit vector of a history (item ids, most recent last; unknown ids are ignored, the last
        max_history known ones are read). No known item: the model's prior vector."""
        return self._embed_codes([self._history_codes(item_ids)])[0]

    def embed_histories(self, histories: Sequence[Sequence[str]]) -> np.ndarray:
        """(len(histories), dim) float32: embed_history for many users in one onnxruntime call."""
        return self._embed_codes([self._history_codes(h) for h in histories])

    def user_vectors(self, user_codes: np.ndarray) -> np.ndarray:
        """(n, dim) vectors of known users (ranker user codes) from their training histories."""
        p, items = self._hist_indptr, self._hist_items
        return self._embed_codes([items[p[u]:p[u + 1]] for u in np.asarray(user_codes, dtype=np.int64)])

    @property
    def item_vectors(self) -> np.ndarray:
        """(n_items, dim) float32 unit vectors from the item tower, row r for item_ids[r] (read-only)."""
        self._require_fitted()
        view = self._item_vectors.view()
        view.setflags(write=False)
        return view

    @property
    def user_tower_onnx(self) -> bytes:
        """The serialised ONNX user tower: input "history" (batch, length) int64 codes = ranker item code + 1,
        left-padded with 0; output "user" (batch, dim) float32."""
        self._require_fitted()
        return self._onnx

    # --- scoring ----------------------------------------------------------------------------------------------------
    def _score_rows(self, user_codes: np.ndarray, X_rows: sp.csr_matrix) -> np.ndarray:
        return self.user_vectors(user_codes) @ self._item_vectors.T

    def _context_history(self, context: Mapping[str, Any] | None) -> np.ndarray | None:
        if not context or context.get("history") is None:
            return None
        codes = self._history_codes(list(context["history"]))
        return codes if len(codes) else None

    def score(self, user: str, items: Sequence[str], context: Mapping[str, Any] | None = None) -> np.ndarray:
        self._require_fitted()
        codes = self.item_codes(items)
        scores = np.full(len(codes), UNKNOWN_SCORE, dtype=np.float64)
        history = self._context_history(context)
        if history is not None:
            vec = self._embed_codes([history])[0]
        else:
            u = self.user_code(user)
            if u < 0:
                return scores
            vec = self.user_vectors(np.array([u]))[0]
        ok = codes >= 0
        scores[ok] = self._item_vectors[codes[ok]] @ vec
        return scores

    def recommend(
        self,
        user: str,
        k: int = 10,
        exclude_seen: bool = True,
        candidates: Sequence[str] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[Recommendation]:
        history = self._context_history(context)
        if candidates is not None or history is None:
            return super().recommend(user, k, exclude_seen, candidates, context)
        scores = (self._item_vectors @ self._embed_codes([history])[0]).astype(np.float64)
        if exclude_seen:
            u = self.user_code(user)
            if u >= 0:
                scores[self._seen.indices[self._seen.indptr[u]:self._seen.indptr[u + 1]]] = -np.inf
            scores[history] = -np.inf
        order = np.lexsort((np.arange(len(scores)), -scores))[:k]
        order = order[np.isfinite(scores[order])]
        return [Recommendation(str(self.item_ids[i]), float(scores[i]), self.served_by) for i in order]

    # --- artifacts --------------------------------------------------------------------------------------------------
    def _model_state(self) -> dict[str, np.ndarray]:
        return {
            "item_vectors": self._item_vectors,
            "user_tower_onnx": np.frombuffer(self._onnx, dtype=np.uint8),
            "history_indptr": self._hist_indptr,
            "history_items": self._hist_items,
        }

    def _restore_model(self, arrays: Mapping[str, np.ndarray]) -> None:
        self._item_vectors = np.ascontiguousarray(arrays["item_vectors"], dtype=np.float32)
        self._onnx = np.asarray(arrays["user_tower_onnx"], dtype=np.uint8).tobytes()
        self._hist_indptr = np.asarray(arrays["history_indptr"], dtype=np.int64)
        self._hist_items = np.asarray(arrays["history_items"], dtype=np.int32)
        self._session = None

"""Inputs of the two towers that are not learned: item texts (from a dataset's item metadata), their frozen
sentence embeddings, and users' ordered histories. numpy only (no torch): the ranker and serving use it too.

Item text is whatever the dataset carries, in a fixed field order (title/name, genres, tags, description, then any
other text column), e.g. MovieLens 1M "Toy Story (1995). Animation, Children's, Comedy" or Food.com
"<name>. tags: <tags>. <description>". The embedding is the project's all-MiniLM-L6-v2 ONNX encoder
(shared.engine.embeddings.encoder); nothing is downloaded. Encoding a catalogue is the slowest step of a small fit
(about 30 s for 1,128 Food.com recipes with descriptions on 2 cores), so results are memoised per process by a hash
of the texts: a hyper-parameter grid encodes each catalogue once.
"""
from __future__ import annotations

import ast
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: item_features columns used for text, in this order (any other column with string values follows, sorted)
PREFERRED_FIELDS = ("title", "name", "genres", "tags", "description")
#: label written before a field's value in the text (none for the name-like fields)
_LABELS = {"tags": "tags: "}
_CACHE_SIZE = 8
_cache: OrderedDict[str, np.ndarray] = OrderedDict()
_cache_lock = threading.Lock()


def _as_text(value: Any) -> str:
    """One feature value as plain text: lists/tuples (or their Python repr, as Food.com stores tags) are joined."""
    if value is None:
        return ""
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(str(v) for v in value if v is not None and str(v))
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parsed = None
        if isinstance(parsed, list):
            return ", ".join(str(v) for v in parsed)
    return text.replace("|", ", ")  # MovieLens genres are pipe-separated


def text_fields(item_features: Mapping[str, np.ndarray]) -> list[str]:
    """The item_features columns that hold text: the preferred ones first, then others whose values are strings."""
    fields = [f for f in PREFERRED_FIELDS if f in item_features]
    for name in sorted(set(item_features) - set(fields)):
        values = [v for v in item_features[name] if v is not None]
        if values and all(isinstance(v, str | list | tuple) for v in values[:100]):
            fields.append(name)
    return fields


def item_texts(item_features: Mapping[str, np.ndarray], rows: np.ndarray, fields: Sequence[str]) -> list[str]:
    """The text of each item at `rows` (indices into the item_features columns)."""
    out = []
    for r in rows:
        parts = []
        for f in fields:
            text = _as_text(item_features[f][r])
            if text:
                parts.append(_LABELS.get(f, "") + text)
        out.append(". ".join(parts))
    return out


def encode_texts(texts: Sequence[str]) -> np.ndarray:
    """(len(texts), 384) float32 L2-normalised sentence embeddings, memoised per process; an empty text gets a zero
    vector (no information, rather than the embedding of a blank)."""
    from shared.engine.embeddings.model_files import EXPORT_VERSION

    key = hashlib.sha256("\x1e".join([EXPORT_VERSION, *texts]).encode()).hexdigest()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    from shared.engine.embeddings.encoder import get_encoder

    vectors = get_encoder().encode(list(texts))
    vectors[[i for i, t in enumerate(texts) if not t]] = 0.0
    vectors.setflags(write=False)
    with _cache_lock:
        _cache[key] = vectors
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return vectors


def ordered_histories(
    users: np.ndarray, items: np.ndarray, n_users: int, timestamps: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """CSR-like (indptr, items) of each user's distinct items, oldest first (by time, then row order when the data
    has no time); an item seen twice keeps its latest position. users/items are compact codes, row-aligned."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    rows = np.arange(len(users))
    time_key = rows if timestamps is None else np.asarray(timestamps, dtype=np.int64)
    order = np.lexsort((rows, time_key, users))  # by user, then time, then file order
    u, i = users[order], items[order]
    # keep the last occurrence of each (user, item): scan from the newest end
    pair = u * (int(items.max(initial=0)) + 1) + i
    _, last_from_end = np.unique(pair[::-1], return_index=True)
    keep = np.zeros(len(pair), dtype=bool)
    keep[len(pair) - 1 - last_from_end] = True
    u, i = u[keep], i[keep]
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n_users), out=indptr[1:])
    return indptr, i.astype(np.int32)


def pad_histories(histories: Sequence[np.ndarray], length: int) -> np.ndarray:
    """(n, length) int64: each history's last `length` codes, right-aligned, 0 (padding) before them."""
    out = np.zeros((len(histories), length), dtype=np.int64)
    for row, h in enumerate(histories):
        tail = np.asarray(h, dtype=np.int64)[-length:] if length else np.empty(0, dtype=np.int64)
        if len(tail):
            out[row, length - len(tail):] = tail
    return out

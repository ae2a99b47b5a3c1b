"""Tag affinity: a logistic model of "will this user accept this item", from the item's tags, the user's own taste
for each tag, and the item itself.

Why: BPR and ALS know items only by id, so they cannot say anything about an item nobody took yet, and a trip
planner mostly shows items the user has not taken. This model learns from accepts *and* skips which tags a user
takes to (wide, crossed features, as in the wide part of Wide & Deep):

    logit P(accept) = b + sum_t x_t * (w_t + w_{user,t}) + x^T W p_user + w_item

with x the item's tags (multi-hot), w_t what everyone thinks of a tag, w_{user,t} this user's deviation (shrunk
to zero by the L2 penalty when the user has little data), w_item a memorised per-item term, and p_user the user's
taste profile: the mean over their answers of +tags (accepted) or -tags (refused). W (tags x tags) is shared by
everyone, so it learns from all users what a profile implies ("those who take seafood take waterfront places and
refuse dives") and carries it to a user after a handful of answers, where w_{user,t} alone would need many.
While fitting, a row's own answer is left out of its profile (no label leak). Positives are
accepts (the POSITIVE_TYPES); negatives are skips, swaps, thumbs down and dismissed pivots, a fast skip
(time_to_action_ms under FAST_SKIP_MS) counting FAST_SKIP_WEIGHT times; views and ignores are left out.
Fitting uses scikit-learn's LogisticRegression (training extra); scoring is numpy.

score() reads an item's tags from context["item_tags"] ({id: tags}) when the caller has them (serving does),
else from the items it was trained on; an item with no known tags gets the bias and nothing else.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from shared.engine.data.dataset import InteractionDataset
from shared.engine.events.schema import NEGATIVE_TYPES
from shared.engine.rankers.base import Manifest, Ranker, RankerError, params_version, register_ranker

FAST_SKIP_MS = 1500
FAST_SKIP_WEIGHT = 2.0


@register_ranker
class TagAffinityRanker(Ranker):
    name: ClassVar[str] = "tag_affinity"
    defaults: ClassVar[dict[str, Any]] = {"C": 1.0, "max_iter": 500}

    def __init__(self, **params: Any) -> None:
        super().__init__(**{**self.defaults, **params})

    def fit(self, dataset: InteractionDataset) -> TagAffinityRanker:
        import time

        from sklearn.linear_model import LogisticRegression

        from shared.engine.events.schema import POSITIVE_TYPES

        started = time.perf_counter()
        if "tags" not in dataset.item_features or "signal_type" not in dataset.context:
            raise RankerError(f"{self.name}: {dataset.name} has no item tags or signal types (our signals only)")
        kinds = dataset.context["signal_type"]
        positive = np.isin(kinds, list(POSITIVE_TYPES))
        negative = np.isin(kinds, list(NEGATIVE_TYPES))
        rows = np.flatnonzero(positive | negative)
        if not positive[rows].any() or not negative[rows].any():
            raise RankerError(f"{self.name}: {dataset.name} needs both accepts and skips to learn from")
        item_tags = dataset.item_features["tags"]
        vocab = sorted({t for tags in item_tags if tags for t in tags})
        t_index = {t: j for j, t in enumerate(vocab)}
        users, items = dataset.users[rows], dataset.items[rows]
        n_users, n_items, n_tags = len(dataset.user_ids), len(dataset.item_ids), len(vocab)
        # item x tag multi-hot for every item of the vocabulary
        it_rows, it_cols = [], []
        for i, tags in enumerate(item_tags):
            for t in tags or ():
                it_rows.append(i)
                it_cols.append(t_index[t])
        item_x = sp.csr_matrix((np.ones(len(it_rows), np.float32), (it_rows, it_cols)), shape=(n_items, n_tags))
        x_tags = item_x[items]
        cross = x_tags.tocoo()
        crossed = sp.csr_matrix((cross.data, (cross.row, users[cross.row] * n_tags + cross.col)),
                                shape=(len(rows), n_users * n_tags))
        x_item = sp.csr_matrix((np.ones(len(rows), np.float32), (np.arange(len(rows)), items)),
                               shape=(len(rows), n_items))
        sign = np.where(positive[rows], 1.0, -1.0).astype(np.float32)
        profile_sum, counts = _profile_sums(x_tags, sign, users, n_users)
        own = sp.diags(sign) @ x_tags  # each row's own contribution, removed from its profile
        others = np.maximum(counts[users] - 1, 1).astype(np.float32)[:, None]
        loo = (profile_sum[users] - own.toarray()) / others
        X = sp.hstack([x_tags, crossed, _profile_cross(x_tags, loo), x_item]).tocsr()
        y = positive[rows].astype(int)
        tta = dataset.context.get("time_to_action_ms")
        w = np.ones(len(rows), dtype=np.float64)
        if tta is not None:
            fast = negative[rows] & (tta[rows] >= 0) & (tta[rows] < FAST_SKIP_MS)
            w[fast] = FAST_SKIP_WEIGHT
        model = LogisticRegression(C=float(self.params["C"]), max_iter=int(self.params["max_iter"]), solver="liblinear")
        model.fit(X, y, sample_weight=w)
        coef = model.coef_.ravel().astype(np.float32)
        self.tags = np.array(vocab, dtype=str)
        self.user_ids = np.asarray(dataset.user_ids, dtype=str)
        self.item_ids = np.asarray(dataset.item_ids, dtype=str)
        self.w_tag = coef[:n_tags]
        at = n_tags + n_users * n_tags
        self.w_user = coef[n_tags:at].reshape(n_users, n_tags)
        self.w_cross = coef[at:at + n_tags * n_tags].reshape(n_tags, n_tags)
        self.w_item = coef[at + n_tags * n_tags:]
        self.profiles = (profile_sum / np.maximum(counts, 1)[:, None]).astype(np.float32)
        self.bias = np.array([model.intercept_[0]], dtype=np.float32)
        self.item_tags = item_x.toarray().astype(np.uint8)
        self._index()
        trained_on = {"dataset": dataset.name, "fingerprint": dataset.fingerprint, "rows": int(len(rows)),
                      "users": n_users, "items": n_items, "tags": n_tags}
        self.version = params_version(self.name, self.params, trained_on)
        self.manifest = Manifest(self.name, self.version, dict(self.params), trained_on,
                                 round(time.perf_counter() - started, 3))
        return self

    def _index(self) -> None:
        self._user = {u: k for k, u in enumerate(self.user_ids)}
        self._item = {i: k for k, i in enumerate(self.item_ids)}
        self._tag = {t: k for k, t in enumerate(self.tags)}

    def score(self, user: str, items: Sequence[str], context: Mapping[str, Any] | None = None) -> np.ndarray:
        if self.manifest is None:
            raise RankerError(f"{self.name}: fit or load before scoring")
        given = (context or {}).get("item_tags") or {}
        x = np.zeros((len(items), len(self.tags)), dtype=np.float32)
        w_item = np.zeros(len(items), dtype=np.float32)
        for r, item in enumerate(items):
            k = self._item.get(item)
            if item in given:
                for t in given[item] or ():
                    j = self._tag.get(t)
                    if j is not None:
                        x[r, j] = 1.0
            elif k is not None:
                x[r] = self.item_tags[k]
            if k is not None:
                w_item[r] = self.w_item[k]
        u = self._user.get(user)
        w = self.w_tag + (self.w_user[u] + self.w_cross @ self.profiles[u] if u is not None else 0.0)
        return (self.bias[0] + x @ w + w_item).astype(np.float64)

    def state(self) -> dict[str, np.ndarray]:
        return {"tags": self.tags, "user_ids": self.user_ids, "item_ids": self.item_ids, "w_tag": self.w_tag,
                "w_user": self.w_user, "w_cross": self.w_cross, "profiles": self.profiles, "w_item": self.w_item,
                "bias": self.bias, "item_tags": self.item_tags}

    def restore(self, manifest: Manifest, arrays: Mapping[str, np.ndarray]) -> None:
        for key in ("tags", "user_ids", "item_ids", "w_tag", "w_user", "w_item", "bias", "item_tags"):
            setattr(self, key, np.asarray(arrays[key]))
        n_tags = len(self.tags)  # artifacts from before the profile cross score without it
        self.w_cross = np.asarray(arrays["w_cross"]) if "w_cross" in arrays else np.zeros((n_tags, n_tags), np.float32)
        self.profiles = np.asarray(arrays["profiles"]) if "profiles" in arrays \
            else np.zeros((len(self.user_ids), n_tags), np.float32)
        self._index()


def _profile_sums(x_tags: sp.csr_matrix, sign: np.ndarray, users: np.ndarray,
                  n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Per user: the sum of +tags (accepts) and -tags (refusals) over their answers, and how many answers."""
    by_user = sp.csr_matrix((sign, (users, np.arange(len(users)))), shape=(n_users, len(users)))
    return np.asarray((by_user @ x_tags).todense(), dtype=np.float32), np.bincount(users, minlength=n_users)


def _profile_cross(x_tags: sp.csr_matrix, profiles: np.ndarray) -> sp.csr_matrix:
    """Row r: the outer product of its item's tags and its profile, flattened (item tag major), as W is."""
    coo = x_tags.tocoo()
    n_tags = x_tags.shape[1]
    nz = [np.flatnonzero(profiles[r]) for r in range(profiles.shape[0])]
    rows, cols, vals = [], [], []
    for r, i in zip(coo.row, coo.col):
        j = nz[r]
        rows.append(np.full(len(j), r))
        cols.append(i * n_tags + j)
        vals.append(profiles[r, j])
    if not rows:
        return sp.csr_matrix((x_tags.shape[0], n_tags * n_tags), dtype=np.float32)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(x_tags.shape[0], n_tags * n_tags), dtype=np.float32)

"""How a next-item model is judged: the rank of the held-out item among all items (next-POI benchmarks:
Acc@k and MRR), or among 100 sampled items the user never interacted with (the SASRec paper's protocol:
HR@10 and NDCG@10). One value per user, so every mean gets a bootstrap confidence interval.

A model is anything with `scores(users, histories) -> array (len(users), n_items + 1)`: `users` are row
indices into the split (for models with a vector per user), `histories` those users' item sequences (for
sequence models); column 0 is padding and never ranked. Ties count against the target (the rank is 1 + the number of items scoring at least as high), so a
model that scores everything equally gets no credit.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from shared.engine.metrics.stats import bootstrap_ci

Scorer = Callable[[np.ndarray, list[np.ndarray]], np.ndarray]
BATCH = 256


def _ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    s = scores[:, 1:]
    t = s[np.arange(len(targets)), targets - 1][:, None]
    return (s >= t).sum(axis=1)  # the target itself counts once, every tie once more


def full_ranking(scorer: Scorer, histories: Sequence[np.ndarray], targets: np.ndarray,
                 ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, np.ndarray]:
    """Per-user Acc@k (the target is in the top k) and reciprocal rank, ranking all items (revisits allowed:
    a next check-in is often a place the user has been before)."""
    ranks = np.concatenate([_ranks(scorer(np.arange(i, min(i + BATCH, len(targets))), list(histories[i:i + BATCH])),
                                   targets[i:i + BATCH]) for i in range(0, len(targets), BATCH)])
    out = {f"acc@{k}": (ranks <= k).astype(np.float64) for k in ks}
    out["mrr"] = 1.0 / ranks
    return out


def sampled_ranking(scorer: Scorer, histories: Sequence[np.ndarray], targets: np.ndarray, n_items: int,
                    n_negatives: int = 100, k: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """Per-user HR@k and NDCG@k of the target among `n_negatives` items drawn uniformly from those the user
    never interacted with (the same draw for every model, from `seed`)."""
    rng = np.random.default_rng(seed)
    hr, ndcg = [], []
    for i in range(0, len(targets), BATCH):
        hist, tgt = list(histories[i:i + BATCH]), targets[i:i + BATCH]
        scores = scorer(np.arange(i, i + len(tgt)), hist)
        for row, h, t in zip(scores, hist, tgt):
            seen = set(h.tolist()) | {int(t)}
            negs = []
            while len(negs) < n_negatives:
                draw = rng.integers(1, n_items + 1, size=2 * n_negatives)
                negs += [int(x) for x in draw if int(x) not in seen and int(x) not in negs]
            negs = np.array(negs[:n_negatives])
            rank = 1 + int((row[negs] >= row[t]).sum())
            hr.append(float(rank <= k))
            ndcg.append(1.0 / np.log2(rank + 1) if rank <= k else 0.0)
    return {f"hr@{k}": np.array(hr), f"ndcg@{k}": np.array(ndcg)}


def summarise(per_user: dict[str, np.ndarray], seed: int = 0) -> dict[str, dict]:
    out = {}
    for name, values in per_user.items():
        ci = bootstrap_ci(values, name, seed=seed)
        out[name] = {"mean": round(ci.mean, 4), "ci95": [round(ci.low, 4), round(ci.high, 4)], "n": ci.n}
    return out

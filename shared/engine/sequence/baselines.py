"""The baselines a next-item model has to beat, behind the same `scores(histories)` interface as SASRec:
popularity (training counts) and BPR matrix factorisation (the `implicit` library) on the user-item matrix."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class Popularity:
    name = "popularity"

    def __init__(self, histories: list[np.ndarray], n_items: int):
        counts = np.bincount(np.concatenate(histories), minlength=n_items + 1).astype(np.float32)
        counts[0] = -np.inf
        self.counts = counts

    def scores(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        return np.tile(self.counts, (len(users), 1))


class BPR:
    """BPR-MF over "user interacted with item" (repeats count once); user i is row i of the fitted histories."""
    name = "bpr"

    def __init__(self, histories: list[np.ndarray], n_items: int, factors: int = 64, iterations: int = 100,
                 learning_rate: float = 0.05, regularization: float = 0.01, seed: int = 0):
        from implicit.bpr import BayesianPersonalizedRanking

        rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
        cols = np.concatenate(histories)
        m = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(len(histories), n_items + 1))
        m.data[:] = 1.0
        self.model = BayesianPersonalizedRanking(factors=factors, iterations=iterations, learning_rate=learning_rate,
                                                 regularization=regularization, random_state=seed)
        self.model.fit(m, show_progress=False)
        self.users = np.asarray(self.model.user_factors)
        self.items = np.asarray(self.model.item_factors)

    def scores(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        out = self.users[users] @ self.items.T
        out[:, 0] = -np.inf
        return out

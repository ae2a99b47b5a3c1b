"""Candidate-set evaluation data: for each generation (or test user), the items a model had to order and which of
them turned out positive.

Two sources:
- logged sets: the trip generator logs the full candidate set (about 200 items) of every generation; a model is
  judged on how it would have ordered exactly those items (see shared.engine.data.signals);
- sampled negatives: a test user's held-out positives plus N items they never interacted with, the classic
  "1 positive + 99 negatives" protocol when combined with leave_last_out.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shared.engine.data.dataset import InteractionDataset


@dataclass(frozen=True)
class CandidateSet:
    user_id: str
    candidates: tuple[str, ...]
    positives: frozenset[str]
    key: str = ""  # the generation's event id, or the user id for sampled sets
    model_version: str | None = None  # the model that served this generation, when logged
    context: dict[str, Any] = field(default_factory=dict)
    negatives: frozenset[str] = frozenset()  # logged sets: what the user was shown and said no to


@dataclass(frozen=True)
class CandidateSets:
    name: str
    sets: tuple[CandidateSet, ...]
    params: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sets)

    def with_positives(self) -> CandidateSets:
        """Only sets where at least one candidate was positive: the others carry no ranking information."""
        kept = tuple(s for s in self.sets if s.positives & set(s.candidates))
        return CandidateSets(self.name, kept, self.params)

    def answered(self) -> CandidateSets:
        """Each logged set cut down to the items the user answered (accepted, or skipped, swapped, ...), in logged
        order, keeping only sets with both a yes and a no.

        Why: the planner shows about ten of the ~200 candidates, so on the full set a model scores well by
        predicting what the planner would show (popularity does), not what the user likes once shown; the
        unshown candidates have no label at all. Among answered items every label is real. Shadow scores stay
        aligned with the candidates they belong to."""
        kept = []
        for s in self.sets:
            answered = s.positives | s.negatives
            idx = [i for i, c in enumerate(s.candidates) if c in answered]
            cands = tuple(s.candidates[i] for i in idx)
            pos = s.positives & set(cands)
            if not pos or len(pos) == len(cands):
                continue
            context = dict(s.context)
            if "shadow_scores" in context:
                context["shadow_scores"] = [context["shadow_scores"][i] for i in idx]
            kept.append(CandidateSet(s.user_id, cands, pos, s.key, s.model_version, context,
                                     (s.negatives - pos) & set(cands)))
        return CandidateSets(f"{self.name}/answered", tuple(kept), {**self.params, "answered_only": True})

    def describe(self) -> dict[str, Any]:
        sizes = [len(s.candidates) for s in self.sets]
        return {
            "name": self.name,
            "sets": len(self.sets),
            "users": len({s.user_id for s in self.sets}),
            "with_positives": sum(1 for s in self.sets if s.positives & set(s.candidates)),
            "median_candidates": float(np.median(sizes)) if sizes else 0.0,
            "params": self.params,
        }


def sample_negative_candidates(
    train: InteractionDataset,
    test: InteractionDataset,
    n_negatives: int = 100,
    seed: int = 42,
    popularity_weighted: bool = False,
) -> CandidateSets:
    """For every test user: their test positives + `n_negatives` items they touched in neither train nor test.

    Negatives are drawn from items seen in training (a model cannot be asked about items it could never know),
    uniformly or, with popularity_weighted, in proportion to training popularity (a harder, less biased protocol).
    """
    if train.item_ids is not test.item_ids and not np.array_equal(train.item_ids, test.item_ids):
        raise ValueError("train and test must share one item vocabulary (take them from one Split)")
    rng = np.random.default_rng(seed)
    train_counts = np.bincount(train.items, minlength=train.n_items).astype(np.float64)
    pool = np.flatnonzero(train_counts > 0)
    probs = train_counts[pool] / train_counts[pool].sum() if popularity_weighted else None
    touched_train = train.items_by_user(positives_only=False)
    test_pos = test.items_by_user(positives_only=True)
    sets: list[CandidateSet] = []
    for ucode in sorted(test_pos):
        positives = test_pos[ucode]
        excluded = np.union1d(positives, touched_train.get(ucode, np.empty(0, dtype=np.int32)))
        available = np.setdiff1d(pool, excluded, assume_unique=False)
        n = min(n_negatives, len(available))
        if probs is None:
            negatives = rng.choice(available, size=n, replace=False)
        else:
            p = train_counts[available]
            negatives = rng.choice(available, size=n, replace=False, p=p / p.sum())
        cands = np.concatenate([positives, negatives])
        rng.shuffle(cands)  # positions must carry no information
        uid = str(train.user_ids[ucode])
        sets.append(
            CandidateSet(
                user_id=uid,
                candidates=tuple(str(x) for x in train.item_ids[cands]),
                positives=frozenset(str(x) for x in train.item_ids[positives]),
                key=uid,
            )
        )
    params = {"n_negatives": n_negatives, "seed": seed, "popularity_weighted": popularity_weighted}
    return CandidateSets(name=f"{test.name}/sampled-{n_negatives}", sets=tuple(sets), params=params)

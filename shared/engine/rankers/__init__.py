"""Rankers behind one interface (shared.engine.rankers.base.Ranker).

Built in: popularity (the always-available fallback), als and bpr (via `implicit`), item_knn (via `implicit`),
ease, tag_affinity, two_tower and sasrec (torch to fit, onnxruntime to score). Other rankers (the LLM/heuristic
cold-start ranker) subclass Ranker and decorate themselves with @register_ranker, which makes their artifacts
loadable by `load_ranker`.
"""
from shared.engine.rankers.base import (
    UNKNOWN_SCORE,
    Manifest,
    NotFittedError,
    Ranker,
    RankerError,
    Recommendation,
    available_rankers,
    load_ranker,
    ranker_class,
    register_ranker,
)
from shared.engine.rankers.implicit_mf import ALSRanker, BPRRanker
from shared.engine.rankers.matrix import MatrixRanker
from shared.engine.rankers.neighbours import EASERanker, ItemKNNRanker
from shared.engine.rankers.popularity import PopularityRanker
from shared.engine.rankers.sasrec_ranker import SASRecRanker
from shared.engine.rankers.tag_affinity import TagAffinityRanker
from shared.engine.rankers.two_tower import TwoTowerRanker


def create_ranker(name: str, **params) -> Ranker:
    """A fresh, unfitted ranker by name, e.g. create_ranker("ease", l2=300)."""
    return ranker_class(name)(**params)


__all__ = [
    "SASRecRanker",
    "TagAffinityRanker",
    "TwoTowerRanker",
    "ALSRanker",
    "BPRRanker",
    "EASERanker",
    "ItemKNNRanker",
    "Manifest",
    "MatrixRanker",
    "NotFittedError",
    "PopularityRanker",
    "Ranker",
    "RankerError",
    "Recommendation",
    "UNKNOWN_SCORE",
    "available_rankers",
    "create_ranker",
    "load_ranker",
    "ranker_class",
    "register_ranker",
]

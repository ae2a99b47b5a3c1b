"""Interaction data for the engine: one dataset type, loaders (public datasets and our signals export), splitters
and candidate sets. Imports numpy, scipy and pyarrow only (no pandas), so jobs stay light."""
from shared.engine.data.candidates import CandidateSet, CandidateSets, sample_negative_candidates
from shared.engine.data.dataset import InteractionDataset
from shared.engine.data.splits import (
    Split,
    leave_last_out,
    make_split,
    random_split,
    stratified_random_split,
    temporal_split,
)

__all__ = [
    "CandidateSet",
    "CandidateSets",
    "InteractionDataset",
    "Split",
    "leave_last_out",
    "make_split",
    "random_split",
    "sample_negative_candidates",
    "stratified_random_split",
    "temporal_split",
]

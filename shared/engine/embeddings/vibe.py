"""The 64-d vibe embedding: a fixed linear projection of the 384-d sentence embedding.

How: PCA. The projection is fitted once on sentence embeddings of a "vibe corpus" (the taxonomy's tag descriptions,
repeated so they weigh as much as a city's worth of venues, plus every venue description in the local sources) and
stored as a versioned artifact (vibe_projection_<version>.npz, committed next to this module). At serving time:

    vibe(x) = normalize(W · (x − μ)),   W: 64×384 (top principal axes, sign-fixed), μ: corpus mean

Why this way:
- The data model stores vibe_embedding as vector(64): 6× less memory than 384-d in pgvector/Qdrant and a cheaper ANN,
  and a 64-d input keeps the persona/ranker models small.
- PCA keeps the directions along which venue texts actually differ; subtracting the corpus mean removes the component
  every venue description shares ("a place in a city"), so cosine in the 64-d space separates vibes better than the
  raw 384-d cosine does (all-MiniLM vectors of similar-domain texts sit in a narrow cone).
- It is deterministic and cheap: one matrix product, no model, no randomness; the same text always maps to the same
  vector, and the artifact's version travels with every stored vector so a refit never silently mixes spaces.
- Sign fixing (largest-magnitude loading of each axis made positive) makes a refit on the same corpus bit-stable
  across LAPACK builds up to float rounding.
The fit's own quality figures (explained variance, rank correlation of pairwise cosines 384-d vs 64-d on held-out
texts) are stored in the artifact's metadata.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

VIBE_DIM = 64
PROJECTION_VERSION = "vibe-pca64-v1"
ARTIFACT_DIR = Path(__file__).parent


def artifact_path(version: str = PROJECTION_VERSION) -> Path:
    return ARTIFACT_DIR / f"vibe_projection_{version}.npz"


def l2_normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.clip(norms, 1e-12, None)).astype(np.float32)


@dataclass(frozen=True)
class VibeProjection:
    mean: np.ndarray        # (384,)
    components: np.ndarray  # (64, 384)
    version: str
    meta: dict

    def project(self, text_embeddings: np.ndarray) -> np.ndarray:
        x = np.asarray(text_embeddings, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.components.shape[1]:
            raise ValueError(f"expected (n, {self.components.shape[1]}) embeddings, got {x.shape}")
        if len(x) == 0:
            return np.zeros((0, self.components.shape[0]), dtype=np.float32)
        return l2_normalize((x - self.mean) @ self.components.T)

    def save(self, path: Path | None = None) -> Path:
        path = path or artifact_path(self.version)
        np.savez(path, mean=self.mean.astype(np.float32), components=self.components.astype(np.float32),
                 version=np.array(self.version), meta=np.array(json.dumps(self.meta, sort_keys=True)))
        return path

    @classmethod
    def load(cls, path: Path) -> "VibeProjection":
        with np.load(path, allow_pickle=False) as data:
            return cls(data["mean"], data["components"], str(data["version"]), json.loads(str(data["meta"])))


def fit_projection(embeddings: np.ndarray, *, dim: int = VIBE_DIM, version: str = PROJECTION_VERSION,
                   meta: dict | None = None) -> VibeProjection:
    """PCA by SVD of the centred matrix (float64 for stability), with deterministic signs."""
    x = np.asarray(embeddings, dtype=np.float64)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    comps = vt[:dim]
    signs = np.sign(comps[np.arange(dim), np.abs(comps).argmax(axis=1)])
    comps = comps * signs[:, None]
    explained = (s[:dim] ** 2).sum() / (s ** 2).sum()
    info = {"dim": dim, "n_texts": int(len(x)), "explained_variance": float(explained), **(meta or {})}
    return VibeProjection(mean.astype(np.float32), comps.astype(np.float32), version, info)


@lru_cache(maxsize=2)
def get_projection(version: str = PROJECTION_VERSION) -> VibeProjection:
    path = artifact_path(version)
    if not path.exists():
        raise FileNotFoundError(
            f"vibe projection artifact {path.name} is missing; it is committed with the code — restore it, or refit "
            "with `python -m shared.domains.travel.catalogue.fit_vibe_projection`"
        )
    return VibeProjection.load(path)

"""The one interface every ranker implements, whatever it is underneath (counts, matrix factorisation, an LLM).

Callers (the trips router, the evaluate job, the registry) only ever see this interface, so a model can be swapped,
shadowed or promoted without its callers changing. Identifiers at this boundary are the domain's own strings
(user ids, item ids); integer codes are an implementation detail of the collaborative-filtering rankers.

A ranker that cannot say anything about a user (a cold user, an unknown item) still answers: unknown items score
`UNKNOWN_SCORE` (ranked last) and `served_by` on each `Recommendation` says which model produced it, so that a fallback
is visible to whoever shows the result.

Artifacts are one self-describing file (`save`/`load`, or `to_bytes`/`from_bytes` for the models bucket): a manifest
(ranker name, version, hyper-parameters, what it was trained on) plus arrays. `load_ranker` reads any of them back
without the caller naming the class.

Plugging in a ranker that is not a matrix model (the LLM / heuristic cold-start ranker), in outline:

    @register_ranker
    class HeuristicRanker(Ranker):
        name = "heuristic"
        def fit(self, dataset):            # may learn nothing; must still stamp version and manifest
            self.version = params_version(self.name, self.params, {})
            self.manifest = Manifest(self.name, self.version, dict(self.params))
            return self
        def score(self, user, items, context=None): ...   # one float per item, UNKNOWN_SCORE if it cannot say
        def state(self): return {}
        def restore(self, manifest, arrays): pass

The evaluate job then judges it on logged candidate sets like any other model (it only calls `score`).
"""
from __future__ import annotations

import hashlib
import io
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:  # the data layer imports numpy/pyarrow only; keep the interface import light
    from shared.engine.data.dataset import InteractionDataset

#: Score given to items a ranker knows nothing about: below every real score, but finite so sorting stays stable.
UNKNOWN_SCORE = -1e30

ARTIFACT_FORMAT = "concierge-ranker/1"


class RankerError(Exception):
    """A ranker was used wrongly (not fitted, unknown parameter, unreadable artifact)."""


class NotFittedError(RankerError):
    pass


@dataclass(frozen=True)
class Recommendation:
    item_id: str
    score: float
    served_by: str  # "<name>@<version>": the model that actually produced this item (a fallback names itself)


@dataclass
class Manifest:
    """What an artifact is: enough to rebuild the ranker and to reproduce how it was trained."""

    name: str
    version: str
    params: dict[str, Any]
    trained_on: dict[str, Any] = field(default_factory=dict)  # dataset name, fingerprint, sizes, split
    fit_seconds: float | None = None
    format: str = ARTIFACT_FORMAT

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, raw: str) -> Manifest:
        data = json.loads(raw)
        if data.get("format") != ARTIFACT_FORMAT:
            raise RankerError(f"not a ranker artifact (format {data.get('format')!r}, expected {ARTIFACT_FORMAT!r})")
        return cls(**data)


def params_version(name: str, params: Mapping[str, Any], trained_on: Mapping[str, Any]) -> str:
    """A deterministic version: the same code, parameters and training data give the same version string."""
    blob = json.dumps({"name": name, "params": dict(params), "data": dict(trained_on)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class Ranker(ABC):
    """fit(dataset) -> score(user, items) -> recommend(user, k) -> save/load.

    Subclasses set `name` (a class attribute, the registry's model_name by default) and fill `version` when fitted
    (or loaded). `params` are the hyper-parameters, JSON-serialisable, and are all the constructor needs.
    """

    name: ClassVar[str] = "ranker"
    version: str = "unfitted"

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = dict(params)
        self.manifest: Manifest | None = None

    @property
    def served_by(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def is_fitted(self) -> bool:
        return self.manifest is not None

    # --- the interface ------------------------------------------------------------------------------------------
    @abstractmethod
    def fit(self, dataset: InteractionDataset) -> Ranker:
        """Learn from interactions; returns self. Must set `version` and `manifest`."""

    @abstractmethod
    def score(self, user: str, items: Sequence[str], context: Mapping[str, Any] | None = None) -> np.ndarray:
        """One float per item, higher is better; unknown items get UNKNOWN_SCORE. `context` (day part, trip, ...) is
        for rankers that use it; matrix models ignore it."""

    def recommend(
        self,
        user: str,
        k: int = 10,
        exclude_seen: bool = True,
        candidates: Sequence[str] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[Recommendation]:
        """Top-k among `candidates` (default: the ranker's whole catalogue). The default implementation scores the
        candidates; matrix rankers override it with a vectorised path."""
        if candidates is None:
            raise RankerError(f"{self.name} has no catalogue of its own: pass candidates")
        items = list(dict.fromkeys(candidates))
        if exclude_seen:
            seen = self.seen_items(user)
            items = [i for i in items if i not in seen]
        if not items:
            return []
        scores = np.asarray(self.score(user, items, context), dtype=np.float64)
        order = np.lexsort((np.arange(len(items)), -scores))[:k]
        return [Recommendation(items[i], float(scores[i]), self.served_by) for i in order]

    def seen_items(self, user: str) -> set[str]:
        """Items the user interacted with in the training data (what exclude_seen removes)."""
        return set()

    # --- artifacts ------------------------------------------------------------------------------------------------
    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """The learned arrays (numpy, no pickles) that with the manifest rebuild the fitted ranker."""

    @abstractmethod
    def restore(self, manifest: Manifest, arrays: Mapping[str, np.ndarray]) -> None:
        """Inverse of state(): called on a fresh instance built from manifest.params."""

    def to_bytes(self) -> bytes:
        if self.manifest is None:
            raise NotFittedError(f"{self.name}: fit or load before saving")
        arrays = dict(self.state())
        if "__manifest__" in arrays:
            raise RankerError("state() must not use the key __manifest__")
        arrays["__manifest__"] = np.frombuffer(self.manifest.to_json().encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(self.to_bytes())
        tmp.replace(path)  # never leave a half-written artifact under the real name
        return path

    @classmethod
    def load(cls, path: str | Path) -> Ranker:
        return cls.from_bytes(Path(path).read_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> Ranker:
        manifest, arrays = read_artifact(data)
        ranker_cls = ranker_class(manifest.name) if cls is Ranker else cls
        if ranker_cls.name != manifest.name:
            raise RankerError(f"artifact is a {manifest.name!r} ranker, not {ranker_cls.name!r}")
        ranker = ranker_cls(**manifest.params)
        ranker.restore(manifest, arrays)
        ranker.manifest = manifest
        ranker.version = manifest.version
        return ranker

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.served_by}, params={self.params})"


def read_artifact(data: bytes) -> tuple[Manifest, dict[str, np.ndarray]]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except Exception as exc:  # zipfile/numpy raise several types for a corrupt file
        raise RankerError(f"unreadable ranker artifact: {exc}") from exc
    raw = arrays.pop("__manifest__", None)
    if raw is None:
        raise RankerError("ranker artifact has no manifest")
    return Manifest.from_json(raw.tobytes().decode()), arrays


# --- the catalogue of ranker classes, so an artifact or a registry row can name its class --------------------------
_CLASSES: dict[str, type[Ranker]] = {}


def register_ranker(cls: type[Ranker]) -> type[Ranker]:
    """Class decorator: makes `cls` loadable by name (another module, e.g. the LLM ranker, registers itself too)."""
    existing = _CLASSES.get(cls.name)
    if existing is not None and existing is not cls:
        raise RankerError(f"two ranker classes named {cls.name!r}: {existing.__qualname__} and {cls.__qualname__}")
    _CLASSES[cls.name] = cls
    return cls


def ranker_class(name: str) -> type[Ranker]:
    import shared.engine.rankers  # noqa: F401  (registers the built-in rankers)

    try:
        return _CLASSES[name]
    except KeyError:
        raise RankerError(f"unknown ranker {name!r}; known: {', '.join(sorted(_CLASSES))}") from None


def available_rankers() -> list[str]:
    import shared.engine.rankers  # noqa: F401

    return sorted(_CLASSES)


def load_ranker(source: str | Path | bytes) -> Ranker:
    """Any artifact back into its ranker: bytes (from GCS) or a local path."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    return Ranker.from_bytes(data)

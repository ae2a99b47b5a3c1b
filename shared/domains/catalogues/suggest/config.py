"""Surfaces and experiments of contextual suggestions, declared as data in suggest.yaml next to this module.

Why data: adding a surface or changing an experiment's split is a reviewed one-line change, not code, and the
evaluation report reads the same declaration the serving path assigns by.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

CONFIG_FILE = Path(__file__).with_name("suggest.yaml")


@dataclass(frozen=True)
class Arm:
    name: str
    model: str      # the registry model_name that ranks for this arm
    weight: float


@dataclass(frozen=True)
class Experiment:
    name: str
    arms: tuple[Arm, ...]
    alpha: float = 0.05
    primary_metric: str = "ctr"
    mixing_sd: float = 0.002

    def arm(self, name: str) -> Arm:
        return next(a for a in self.arms if a.name == name)


@dataclass(frozen=True)
class Surface:
    name: str
    max_limit: int
    slots: int
    experiment: str


@dataclass(frozen=True)
class SuggestConfig:
    surfaces: dict[str, Surface]
    experiments: dict[str, Experiment]

    def experiment_of(self, surface: str) -> Experiment:
        return self.experiments[self.surfaces[surface].experiment]

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.model for e in self.experiments.values() for a in e.arms))


def parse_config(raw: dict) -> SuggestConfig:
    """Validated: every surface names a declared experiment, arms have positive weights and distinct url-safe names."""
    experiments = {}
    for e in raw.get("experiments", []):
        arms = tuple(Arm(str(a["name"]), str(a["model"]), float(a["weight"])) for a in e["arms"])
        if not arms or any(a.weight <= 0 for a in arms) or len({a.name for a in arms}) != len(arms):
            raise ValueError(f"experiment {e['name']}: arms need distinct names and positive weights")
        if any(not a.name.replace("_", "").isalnum() for a in arms):
            raise ValueError(f"experiment {e['name']}: arm names must be letters, digits and '_'")
        experiments[e["name"]] = Experiment(e["name"], arms, float(e.get("alpha", 0.05)),
                                            str(e.get("primary_metric", "ctr")), float(e.get("mixing_sd", 0.002)))
    surfaces = {}
    for s in raw.get("surfaces", []):
        surface = Surface(str(s["name"]), int(s["max_limit"]), int(s["slots"]), str(s["experiment"]))
        if surface.experiment not in experiments:
            raise ValueError(f"surface {surface.name}: unknown experiment {surface.experiment}")
        if surface.max_limit < 1 or surface.slots < 1:
            raise ValueError(f"surface {surface.name}: max_limit and slots must be positive")
        surfaces[surface.name] = surface
    return SuggestConfig(surfaces, experiments)


@lru_cache(maxsize=1)
def get_config() -> SuggestConfig:
    return parse_config(yaml.safe_load(CONFIG_FILE.read_text()))

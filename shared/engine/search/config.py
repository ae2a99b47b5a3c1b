"""The declared hyper-parameters of the search stack (hpo.yaml), read without Optuna or torch.

Why a file: the trainer, the study and the benchmark must agree on one set of defaults and one search space, and
a reviewer should see both in one place. Unknown keys are refused so a typo cannot silently fall back to a default.
"""
from __future__ import annotations

import json
from pathlib import Path

HPO_FILE = Path(__file__).with_name("hpo.yaml")
TRAINING_KEYS = ("lr", "temperature", "queue_size", "momentum", "batch_size", "epochs")
INDEX_KEYS = ("hnsw_m", "hnsw_ef_construction", "hnsw_ef_search")


def load_hpo(path: Path = HPO_FILE) -> dict:
    import yaml

    raw = yaml.safe_load(Path(path).read_text())
    unknown = set(raw["defaults"]) - set(TRAINING_KEYS) - set(INDEX_KEYS)
    unknown |= set(raw["space"]) - set(raw["defaults"])
    if unknown:
        raise ValueError(f"{path}: unknown hyper-parameters {sorted(unknown)}")
    return raw


def declared_defaults(path: Path = HPO_FILE) -> dict:
    return dict(load_hpo(path)["defaults"])


def chosen_config(study_result: Path | None, path: Path = HPO_FILE) -> tuple[dict, str]:
    """(config, provenance): the study's best trial over the defaults when a finished study file exists, else the
    declared defaults. The provenance string says which, for the benchmark's record."""
    config = declared_defaults(path)
    if study_result is not None and Path(study_result).exists():
        study = json.loads(Path(study_result).read_text())
        best = study.get("best")
        if best and best.get("params"):
            config.update(best["params"])
            return config, f"best of {len(study.get('trials', []))} Optuna trials ({Path(study_result).name}, " \
                           f"trial {best['number']}, validation nDCG@10 {best['value']:.4f})"
    return config, "declared defaults of shared/engine/search/hpo.yaml (no study result found)"

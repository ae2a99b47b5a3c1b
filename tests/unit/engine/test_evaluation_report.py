"""The evaluate job's shadow and counterfactual sections: computed from logged sets and decisions, and shown in
the report's markdown and PNG beside the offline metrics."""
from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np

from jobs.evaluate.main import EvalData, Entry, counterfactuals, judge_shadows
from jobs.evaluate.report import to_markdown, to_png
from shared.engine.data.candidates import CandidateSet, CandidateSets
from shared.engine.data.signals import LoggedDecision

ITEMS = [f"v{i}" for i in range(8)]
SHADOW = "tag_affinity@abc"


class _Prefers:
    """Scores one item above the rest."""

    def __init__(self, item: str):
        self.item, self.name, self.version = item, "fixed", "v1"

    def score(self, user, items, context=None):
        return np.array([1.0 if i == self.item else 0.0 for i in items])


def _entry(label: str, status: str | None, ranker) -> Entry:
    record = None if status is None else SimpleNamespace(status=status, model_name=label.split("@")[0],
                                                         served_by=label)
    return Entry(label, "registry" if record else "baseline", ranker, record=record)


def _data() -> EvalData:
    sets = []
    for u in range(40):  # the user takes v7; served order puts it last, the shadow model first
        scores = [0.0] * len(ITEMS)
        scores[7] = 3.0
        sets.append(CandidateSet(f"u{u}", tuple(ITEMS), frozenset({"v7"}), key=f"g{u}",
                                 context={"shadow_model_version": f"ml:{SHADOW}", "shadow_scores": scores},
                                 negatives=frozenset({"v0", "v1", "v2"})))
    decisions = []
    for u in range(40):  # epsilon-greedy logs: half the stops chose v7 (accepted), half v0 (skipped)
        chosen = "v7" if u % 2 else "v0"
        decisions.append(LoggedDecision(f"u{u}", f"t{u}", ("v0", "v7"), (0.5, 0.5), chosen, int(chosen == "v7"), {}))
    return EvalData("signals", "fp", None, "candidates", logged_sets=CandidateSets("logged", tuple(sets)),
                    decisions=decisions)


def test_shadow_and_counterfactual_figures_are_computed_and_rendered():
    data = _data()
    entries = [_entry(SHADOW, "shadow", _Prefers("v7")), _entry("baseline:popularity@x", None, _Prefers("v0"))]
    shadow = judge_shadows(entries, data, seed=0)
    assert [s["model"] for s in shadow] == [SHADOW] and shadow[0]["shadow_sets"] == 40 and shadow[0]["passed"]
    # judged on the answered items (v0, v1, v2, v7): the served order puts the accepted one last
    assert shadow[0]["shadow"]["mrr@10"]["mean"] == 1.0 and shadow[0]["served"]["mrr@10"]["mean"] == 0.25
    cf = {c["model"]: c for c in counterfactuals(entries, data, seed=0)}
    assert cf[SHADOW]["snips"]["mean"] == 1.0 and cf["baseline:popularity@x"]["snips"]["mean"] == 0.0
    assert cf[SHADOW]["logged_acceptance"] == 0.5

    ci = {"name": "hr@5", "mean": 0.5, "low": 0.4, "high": 0.6, "n": 40, "confidence": 0.95}
    report = {"run_id": "r1", "data": {"dataset": "signals", "split": "temporal"}, "seed": 0, "protocol": "candidates",
              "ks": [5], "eval_set": "e", "n_users": 40, "confidence": 0.95, "n_resamples": 100, "created_at": "now",
              "metric_names": ["hr@5"],
              "models": [{"model": e.label, "label": e.label, "source": e.source, "metrics": {"hr@5": ci}, "extra": {}}
                         for e in entries],
              "shadow": shadow, "counterfactual": list(cf.values())}
    md = to_markdown(report)
    assert "## Shadow" in md and "## Counterfactual acceptance" in md
    assert f"| `{SHADOW}` | 40 | shadow | 1.0000" in md and "| 0.5000 |" in md
    png = to_png(report)
    import matplotlib.image

    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[1] > 900  # three panels side by side: the metric, the counterfactual, the shadow


def test_without_logged_data_the_sections_are_empty():
    empty = EvalData("movielens", "fp", None, "full_ranking")
    entries = [_entry(SHADOW, "shadow", _Prefers("v7"))]
    assert judge_shadows(entries, empty, seed=0) == [] and counterfactuals(entries, empty, seed=0) == []

"""The Open Bandit loader on a tiny file in the dataset's format, and on the shipped sample when present."""
from __future__ import annotations

import numpy as np
import pytest

from shared.engine.suggest.bandit_data import AFFINITY_KEY, dataset_root, load_log


def _write(folder, rows: list[list], items: list[list]) -> None:
    folder.mkdir(parents=True)
    header = ["", "timestamp", "item_id", "position", "click", "propensity_score",
              "user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3",
              "user-item_affinity_0", "user-item_affinity_1"]
    lines = [",".join(header)] + [",".join(str(v) for v in [i, *r]) for i, r in enumerate(rows)]
    (folder / "all.csv").write_text("\n".join(lines) + "\n")
    item_lines = [",item_id,item_feature_0,item_feature_1,item_feature_2,item_feature_3"]
    item_lines += [",".join(str(v) for v in [i, *r]) for i, r in enumerate(items)]
    (folder / "item_context.csv").write_text("\n".join(item_lines) + "\n")


def test_loader_types_positions_and_contexts(tmp_path):
    _write(tmp_path / "bts" / "all",
           rows=[["2019-11-24 00:00:01+00:00", 1, 3, 0, 0.25, "bb", "x", "y", "z", 0.0, 1.0],
                 ["2019-11-24 00:00:02+00:00", 0, 1, 1, 0.5, "aa", "x", "y", "w", 2.0, 0.0]],
           items=[[1, -0.5, "h1", "g1", "f1"], [0, 0.7, "h0", "g1", "f1"]])  # file order need not be id order
    log = load_log("bts", "all", root=tmp_path)
    assert log.n_rounds == 2 and log.n_actions == 2 and log.len_list == 3
    assert log.position.tolist() == [2, 0]                   # 1..3 in the file, 0-based here
    assert log.item.tolist() == [1, 0] and log.click.tolist() == [0, 1]
    assert log.pscore.tolist() == [0.25, 0.5]
    assert log.timestamp[1] - log.timestamp[0] == pytest.approx(1.0)
    assert log.user_levels[0] == ("aa", "bb") and log.user[:, 0].tolist() == [1, 0]
    assert log.affinity.tolist() == [[0.0, 1.0], [2.0, 0.0]]
    assert log.items.feature_0.tolist() == [0.7, -0.5]       # sorted by item id
    assert log.items.strings()[1].tolist() == ["h1", "g1", "f1"]
    ctx = log.context(0)
    assert ctx["user_feature_0"] == "bb" and ctx["user_feature_3"] == "z" and ctx[AFFINITY_KEY] == [0.0, 1.0]
    assert log.subset(np.array([1, 1])).item.tolist() == [0, 0]


def test_loader_rejects_a_position_beyond_the_list(tmp_path):
    _write(tmp_path / "random" / "all",
           rows=[["2019-11-24 00:00:01+00:00", 0, 4, 0, 0.5, "a", "b", "c", "d", 0.0, 0.0]],
           items=[[0, 0.1, "h", "g", "f"], [1, 0.2, "h", "g", "f"]])
    with pytest.raises(ValueError, match="positions"):
        load_log("random", "all", root=tmp_path)


@pytest.mark.skipif(not (dataset_root() / "random" / "all" / "all.csv").exists(), reason="OBD sample not present")
def test_shipped_sample_has_the_documented_shape():
    log = load_log("random")
    assert (log.n_rounds, log.n_actions, log.len_list) == (10_000, 80, 3)
    assert np.allclose(log.pscore, 1 / 80)                    # uniform random over 80 items
    assert set(log.position.tolist()) == {0, 1, 2}
    assert np.all(np.diff(log.timestamp) >= 0)                # chronological

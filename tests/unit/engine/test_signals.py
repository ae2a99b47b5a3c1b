"""Reading our nightly export: tolerant to extra/missing columns; logged candidate sets and their positives."""
from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.engine.data.signals import (
    SignalsExportError,
    conform,
    logged_candidate_sets,
    partition_path,
    read_export,
    signals_dataset,
)
from shared.engine.metrics import evaluate_candidate_sets
from shared.engine.rankers import create_ranker
from tests.unit.engine.synthetic import signals_export

DAY = date(2025, 6, 10)


@pytest.fixture(scope="module")
def export_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    for day, table in signals_export(DAY, train_days=4, eval_days=2, n_users=20, n_items=20).items():
        folder = root / partition_path(day)
        folder.mkdir(parents=True)
        pq.write_table(table, folder / "part-00000.parquet")
    return root


def test_read_export_ignores_extra_columns_and_skips_missing_days(export_root):
    table = read_export(DAY - timedelta(days=10), DAY + timedelta(days=1), root=export_root)
    assert "exporter_note" not in table.column_names
    assert table.num_rows > 0 and table.schema.field("created_at").type == pa.timestamp("us", tz="UTC")


def test_missing_optional_columns_are_filled_and_required_ones_refused():
    minimal = pa.table({
        "event_id": ["e1"], "user_id": ["u"], "signal_type": ["slot_accept"], "weight": [1.0],
        "created_at": pa.array([1_700_000_000_000_000], pa.timestamp("us")), "item_id": ["x"],
    })
    out = conform(minimal)
    assert out.column("positive").to_pylist() == [True]  # derived from signal_type
    assert out.column("candidates").to_pylist() == [[]]
    with pytest.raises(SignalsExportError, match="user_id"):
        conform(minimal.drop(["user_id"]))


def test_dataset_keeps_item_rows_and_the_positive_flag(export_root):
    table = read_export(DAY - timedelta(days=4), DAY + timedelta(days=1), root=export_root)
    ds = signals_dataset(table)
    assert len(ds) == sum(1 for v in table.column("item_id").to_pylist() if v is not None)
    assert set(ds.context["signal_type"][~ds.positive_mask()]) == {"thumbs_down"}
    assert (ds.timestamps[:-1] <= ds.timestamps[1:]).all()


def test_logged_sets_attribute_positives_to_their_generation(export_root):
    table = read_export(DAY, DAY + timedelta(days=1), root=export_root)
    sets = logged_candidate_sets(table)
    assert len(sets) == 40  # 20 users x 2 days, one generation each
    for cs in sets.sets:
        assert len(cs.candidates) == 12 and 1 <= len(cs.positives) <= 2
        assert cs.positives <= set(cs.candidates) and cs.model_version == "heuristic@v0"
    # a positive outside the candidate list, or from another trip, is not credited
    assert all(len(cs.positives) <= 2 for cs in sets.sets)


def test_a_cluster_aware_model_beats_popularity_on_logged_sets(export_root):
    train = signals_dataset(read_export(DAY - timedelta(days=4), DAY - timedelta(days=1), root=export_root))
    sets = logged_candidate_sets(read_export(DAY, DAY + timedelta(days=1), root=export_root))
    pop = evaluate_candidate_sets(create_ranker("popularity").fit(train), sets, ks=(3,), n_resamples=300)
    ease = evaluate_candidate_sets(create_ranker("ease", l2=5.0).fit(train), sets, ks=(3,), n_resamples=300)
    assert pop.eval_set == ease.eval_set and pop.extra["sets_evaluated"] == 40
    assert ease.metrics["hr@3"].low > pop.metrics["hr@3"].high

"""An InteractionDataset as one Parquet file, so a training job can hand what it read from Postgres to the Vertex AI
trainer through a bucket (the trainer has no database access in the cloud).

Rows: user_id, item_id, timestamp (µs since the epoch, nullable), weight. Item features travel as key-value
metadata (JSON, one object per feature: {item_id: value}), since they are per item, not per row.
"""
from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shared.engine.data.dataset import InteractionDataset

_FEATURES = b"concierge.item_features"
_NAME = b"concierge.dataset_name"


def to_parquet(dataset: InteractionDataset) -> bytes:
    ts = dataset.timestamps
    table = pa.table({
        "user_id": pa.array(dataset.user_ids[dataset.users].astype(str)),
        "item_id": pa.array(dataset.item_ids[dataset.items].astype(str)),
        "timestamp": pa.array(ts if ts is not None else [None] * len(dataset), type=pa.int64()),
        "weight": pa.array(dataset.weights, type=pa.float32()),
    })
    features = {name: {str(item): (list(v) if isinstance(v, tuple) else v)
                       for item, v in zip(dataset.item_ids, col) if v is not None}
                for name, col in dataset.item_features.items()}
    table = table.replace_schema_metadata({_FEATURES: json.dumps(features, default=str).encode(),
                                           _NAME: dataset.name.encode()})
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


def from_parquet(data: bytes) -> InteractionDataset:
    table = pq.read_table(io.BytesIO(data))
    meta = table.schema.metadata or {}
    features = json.loads(meta.get(_FEATURES, b"{}"))
    ts = table.column("timestamp")
    timestamps = None if ts.null_count == len(ts) else np.asarray(ts.fill_null(0).to_numpy(), dtype=np.int64)
    return InteractionDataset.from_columns(
        meta.get(_NAME, b"export").decode(), table.column("user_id").to_numpy(zero_copy_only=False),
        table.column("item_id").to_numpy(zero_copy_only=False), timestamps,
        table.column("weight").to_numpy(), item_features={k: {i: (tuple(v) if isinstance(v, list) else v)
                                                              for i, v in m.items()} for k, m in features.items()})

"""Small synthetic data with a known answer, shared by the engine's unit and integration tests.

Two taste clusters: users u00-u{n/2-1} like items i00-i{m/2-1}, the others like the rest. A collaborative model
must learn the clusters; popularity cannot (both halves are equally popular), so their gap is large and certain.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa

from shared.engine.data.dataset import InteractionDataset


def cluster_of_user(u: int, n_users: int) -> int:
    return 0 if u < n_users // 2 else 1


def items_of_cluster(c: int, n_items: int) -> list[int]:
    half = n_items // 2
    return list(range(0, half)) if c == 0 else list(range(half, n_items))


def clustered_interactions(n_users: int = 40, n_items: int = 30, per_user: int = 8, seed: int = 0,
                           name: str = "synthetic") -> InteractionDataset:
    rng = np.random.default_rng(seed)
    users, items, ts = [], [], []
    t0 = 1_700_000_000_000_000
    for u in range(n_users):
        pool = items_of_cluster(cluster_of_user(u, n_users), n_items)
        for j, i in enumerate(rng.choice(pool, size=per_user, replace=False)):
            users.append(f"u{u:02d}")
            items.append(f"i{i:02d}")
            ts.append(t0 + (u * per_user + j) * 60_000_000)
    return InteractionDataset.from_columns(name, users, items, timestamps=ts)


def signals_export(first_eval_day: date, train_days: int = 6, eval_days: int = 3, n_users: int = 40,
                   n_items: int = 30, seed: int = 0) -> dict[date, pa.Table]:
    """A nightly export, one table per day: accept signals before first_eval_day; from it on, each user gets one
    logged generation per day (an 'impression' row carrying 12 candidates, half from each cluster) and accepts one
    or two candidates of their own cluster. Tables carry an extra column the loader must ignore."""
    rng = np.random.default_rng(seed)
    out: dict[date, pa.Table] = {}
    counter = 0

    def row(day: date, u: int, minute: int, signal_type: str, item: str | None, positive: bool,
            trip: str | None, candidates: list[str]) -> dict:
        nonlocal counter
        counter += 1
        return {
            "event_id": f"e{counter:06d}",
            "user_id": f"u{u:02d}",
            "item_id": item,
            "signal_type": signal_type,
            "weight": 1.0 if positive else 0.0,
            "created_at": datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(minutes=minute),
            "trip_id": trip,
            "model_version": "heuristic@v0" if candidates else None,
            "time_to_action_ms": 1500 if positive else None,
            "day_part": "evening",
            "candidates": candidates,
            "positive": positive,
            "exporter_note": "extra column",
        }

    for offset in range(-train_days, eval_days):
        day = first_eval_day + timedelta(days=offset)
        rows = []
        for u in range(n_users):
            mine = items_of_cluster(cluster_of_user(u, n_users), n_items)
            other = items_of_cluster(1 - cluster_of_user(u, n_users), n_items)
            if offset < 0:
                for k, i in enumerate(rng.choice(mine, size=3, replace=False)):
                    rows.append(row(day, u, 10 + k, "slot_accept", f"i{i:02d}", True, f"t{u:02d}-{offset}", []))
            else:
                trip = f"t{u:02d}-{offset}"
                cands = [f"i{i:02d}" for i in rng.permutation(
                    np.concatenate([rng.choice(mine, 6, replace=False), rng.choice(other, 6, replace=False)]))]
                rows.append(row(day, u, 5, "impression", None, False, trip, cands))
                own = [c for c in cands if int(c[1:]) in mine]
                for k, c in enumerate(rng.choice(own, size=int(rng.integers(1, 3)), replace=False)):
                    rows.append(row(day, u, 20 + k, "slot_accept", str(c), True, trip, []))
                rows.append(row(day, u, 40, "thumbs_down", cands[0], False, trip, []))
        table = pa.Table.from_pylist(rows)
        out[day] = table.set_column(
            table.schema.get_field_index("created_at"), "created_at",
            table.column("created_at").cast(pa.timestamp("us", tz="UTC")),
        )
    return out

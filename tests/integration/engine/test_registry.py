"""Registry transitions against the real embedded Postgres (the `pg_dsn` fixture), with its partial unique index."""
from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from shared.engine.metrics.stats import MetricCI
from shared.engine.registry import (
    GateBlocked,
    InvalidTransition,
    ModelNotFound,
    RegistryConflict,
    get_model,
    get_production,
    list_models,
    promote,
    promotion_gate,
    record_evaluation,
    register_candidate,
    transition,
)

pytestmark = pytest.mark.integration


def run(coro):
    return asyncio.run(coro)


def _name() -> str:
    return f"ranker-{uuid.uuid4().hex[:8]}"


async def _snapshot(conn: asyncpg.Connection, name: str) -> list[tuple]:
    rows = await conn.fetch(
        "SELECT version, status, promoted_at, metrics::text AS m FROM model_registry WHERE model_name = $1 "
        "ORDER BY version", name)
    return [tuple(r) for r in rows]


async def _production_count(conn: asyncpg.Connection, name: str) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM model_registry WHERE model_name = $1 AND status = 'production'", name)


async def _with_conn(dsn, fn):
    conn = await asyncpg.connect(dsn)
    try:
        return await fn(conn)
    finally:
        await conn.close()


async def _setup(conn, name: str, versions=("v1", "v2")) -> None:
    for v in versions:
        await register_candidate(conn, name, v, f"gs://test-models/{name}/{v}/model.npz")


def test_lifecycle_keeps_exactly_one_production_row(pg_dsn):
    name = _name()

    async def scenario(conn):
        await _setup(conn, name, ("v1", "v2", "v3"))
        await transition(conn, name, "v1", "shadow")
        prod = await transition(conn, name, "v1", "production")
        assert prod.status == "production" and prod.promoted_at is not None
        for v in ("v2", "v3"):
            await transition(conn, name, v, "shadow")
            await transition(conn, name, v, "production")
            assert await _production_count(conn, name) == 1
            assert (await get_production(conn, name)).version == v
        statuses = {m.version: m.status for m in await list_models(conn, name)}
        assert statuses == {"v1": "retired", "v2": "retired", "v3": "production"}
        await transition(conn, name, "v3", "retired")
        assert await get_production(conn, name) is None

    run(_with_conn(pg_dsn, scenario))


def test_the_database_refuses_a_second_production_row(pg_dsn):
    """Bypassing the registry module: the partial unique index still says no, and nothing changes."""
    name = _name()

    async def scenario(conn):
        await _setup(conn, name)
        await transition(conn, name, "v1", "shadow")
        await transition(conn, name, "v1", "production")
        before = await _snapshot(conn, name)
        with pytest.raises(asyncpg.UniqueViolationError) as err:
            await conn.execute(
                "UPDATE model_registry SET status = 'production' WHERE model_name = $1 AND version = 'v2'", name)
        assert err.value.constraint_name == "model_registry_one_production"
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO model_registry (model_name, version, artifact_path, status) "
                "VALUES ($1, 'rogue', 'x', 'production')", name)
        assert await _snapshot(conn, name) == before
        assert await _production_count(conn, name) == 1

    run(_with_conn(pg_dsn, scenario))


def test_invalid_transitions_fail_and_change_nothing(pg_dsn):
    name = _name()

    async def scenario(conn):
        await _setup(conn, name)
        await transition(conn, name, "v1", "shadow")
        await transition(conn, name, "v1", "production")
        before = await _snapshot(conn, name)
        with pytest.raises(InvalidTransition):
            await transition(conn, name, "v2", "production")  # a candidate must go through shadow
        await transition(conn, name, "v2", "retired")
        before = await _snapshot(conn, name)
        with pytest.raises(InvalidTransition):
            await transition(conn, name, "v2", "production")  # retired is final
        with pytest.raises(InvalidTransition):
            await transition(conn, name, "v1", "archived")
        with pytest.raises(ModelNotFound):
            await transition(conn, name, "v9", "shadow")
        with pytest.raises(RegistryConflict):
            await register_candidate(conn, name, "v1", "gs://elsewhere")
        assert await _snapshot(conn, name) == before

    run(_with_conn(pg_dsn, scenario))


def test_a_promotion_refused_by_the_index_mid_transaction_rolls_back(pg_dsn):
    """A concurrent writer (not using this module) swaps production while our promotion waits on its row lock.
    Our promotion has already retired nothing it can keep: the index refuses the second production row, the whole
    transaction rolls back, and the registry is exactly the other writer's committed state."""
    name = _name()

    async def scenario():
        a = await asyncpg.connect(pg_dsn)
        b = await asyncpg.connect(pg_dsn)
        try:
            await _setup(a, name, ("v1", "v2"))
            await transition(a, name, "v1", "shadow")
            await transition(a, name, "v1", "production")
            await transition(a, name, "v2", "shadow")
            rogue = b.transaction()
            await rogue.start()
            await b.execute("UPDATE model_registry SET status = 'retired' WHERE model_name = $1 AND version = 'v1'", name)
            await b.execute("INSERT INTO model_registry (model_name, version, artifact_path, status) "
                            "VALUES ($1, 'rogue', 'x', 'production')", name)
            ours = asyncio.create_task(transition(a, name, "v2", "production"))
            await asyncio.sleep(0.5)
            assert not ours.done()  # blocked on the rogue writer's row lock
            await rogue.commit()
            after_rogue = await _snapshot(b, name)
            with pytest.raises(RegistryConflict, match="unchanged"):
                await ours
            assert await _snapshot(b, name) == after_rogue
            assert (await get_model(b, name, "v2")).status == "shadow"
            assert await _production_count(b, name) == 1
        finally:
            await a.close()
            await b.close()

    run(scenario())


def _decision(candidate: str, reference: str, low: float, high: float):
    return promotion_gate(MetricCI("hr@5", low + 0.04, low, low + 0.08, 300),
                          MetricCI("hr@5", high - 0.04, high - 0.08, high, 300),
                          candidate_model=candidate, reference_model=reference,
                          candidate_eval_set="set-1", reference_eval_set="set-1")


def test_gated_promotion(pg_dsn):
    name = _name()

    async def scenario(conn):
        await _setup(conn, name, ("v1", "v2", "v3"))
        await transition(conn, name, "v1", "shadow")
        await transition(conn, name, "v1", "production")
        await transition(conn, name, "v2", "shadow")
        before = await _snapshot(conn, name)
        blocked = _decision(f"{name}@v2", f"{name}@v1", low=0.66, high=0.68)
        assert not blocked.passed
        with pytest.raises(GateBlocked):
            await promote(conn, name, "v2", blocked)
        stale = _decision(f"{name}@v2", f"{name}@v0", low=0.71, high=0.68)  # measured against another production
        with pytest.raises(GateBlocked, match="re-evaluate"):
            await promote(conn, name, "v2", stale)
        wrong_model = _decision(f"{name}@v3", f"{name}@v1", low=0.71, high=0.68)
        with pytest.raises(GateBlocked):
            await promote(conn, name, "v2", wrong_model)
        assert await _snapshot(conn, name) == before

        passed = _decision(f"{name}@v2", f"{name}@v1", low=0.71, high=0.68)
        record = await promote(conn, name, "v2", passed)
        assert record.status == "production" and record.metrics["promotion"]["passed"] is True
        assert (await get_model(conn, name, "v1")).status == "retired"

    run(_with_conn(pg_dsn, scenario))


def test_record_evaluation_keeps_earlier_evaluations(pg_dsn):
    name = _name()

    async def scenario(conn):
        await register_candidate(conn, name, "v1", "gs://x", metrics={"train_loss": 0.1})
        await record_evaluation(conn, name, "v1", "set-a", {"metrics": {"hr@5": {"mean": 0.7}}})
        rec = await record_evaluation(conn, name, "v1", "set-b", {"metrics": {"hr@5": {"mean": 0.6}}})
        assert rec.metrics["train_loss"] == 0.1
        assert set(rec.metrics["evaluations"]) == {"set-a", "set-b"}
        assert rec.metrics["latest_evaluation"] == "set-b"
        with pytest.raises(ModelNotFound):
            await record_evaluation(conn, name, "nope", "set-a", {})

    run(_with_conn(pg_dsn, scenario))


def test_manual_promotion_and_rollback(pg_dsn):
    from shared.engine.registry.store import promote_manually, rollback

    name = _name()

    async def go():
        pool = await asyncpg.create_pool(pg_dsn, min_size=1, max_size=2)
        try:
            for v in ("v1", "v2"):
                await register_candidate(pool, name, v, f"gs://models/{name}/{v}")
            with pytest.raises(InvalidTransition, match="only a model in shadow"):
                await promote_manually(pool, name, "v1", "looks good", "ops")
            with pytest.raises(ModelNotFound, match="no production"):
                await rollback(pool, name, "bad", "ops")
            await transition(pool, name, "v1", "shadow")
            first = await promote_manually(pool, name, "v1", "ops decision", "ops")
            assert first.status == "production" and first.metrics["promotion"]["manual"] is True
            with pytest.raises(ModelNotFound, match="no earlier one"):
                await rollback(pool, name, "bad", "ops")
            await transition(pool, name, "v2", "shadow")
            await promote_manually(pool, name, "v2", "newer", "ops")
            assert (await get_model(pool, name, "v1")).status == "retired"
            restored, retired = await rollback(pool, name, "v2 hurts acceptance", "ops")
            assert (restored.version, restored.status, retired.version, retired.status) == (
                "v1", "production", "v2", "retired")
            assert (await get_production(pool, name)).version == "v1"
            assert retired.metrics["rolled_back"]["reason"] == "v2 hurts acceptance"
        finally:
            await pool.close()

    run(go())

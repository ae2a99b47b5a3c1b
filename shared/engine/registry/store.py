"""The model registry on Postgres (table model_registry, shared/db/migrations/001_core.sql).

Lifecycle: candidate -> shadow -> production -> retired (a candidate or a shadow can also be retired directly).
Promoting a model to production retires the previous production model of the same name in the same transaction;
the partial unique index model_registry_one_production is what guarantees one production row per model_name, even
against writers that bypass this module. Every transition runs in one transaction, so a failure at any step (an
invalid transition, a concurrent promotion refused by the index, a stale gate decision) leaves the registry exactly
as it was.

JSON goes in and out as text (`$n::text::jsonb`, `metrics::text`) so these functions work on any asyncpg connection,
with or without the adapter's JSON codecs.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.engine.registry.gate import GateDecision

STATUSES = ("candidate", "shadow", "production", "retired")
ALLOWED: dict[str, frozenset[str]] = {
    "candidate": frozenset({"shadow", "retired"}),
    "shadow": frozenset({"production", "retired"}),
    "production": frozenset({"retired"}),
    "retired": frozenset(),
}


class RegistryError(Exception):
    pass


class ModelNotFound(RegistryError):
    pass


class InvalidTransition(RegistryError):
    pass


class RegistryConflict(RegistryError):
    """The database refused the change (a duplicate version, or a second production row)."""


class GateBlocked(RegistryError):
    pass


@dataclass(frozen=True)
class ModelRecord:
    id: int
    model_name: str
    version: str
    artifact_path: str
    training_date: datetime
    metrics: dict[str, Any]
    status: str
    promoted_at: datetime | None
    created_at: datetime

    @property
    def served_by(self) -> str:
        return f"{self.model_name}@{self.version}"


_COLUMNS = "id, model_name, version, artifact_path, training_date, metrics::text AS metrics, status, promoted_at, created_at"

Db = asyncpg.Connection | asyncpg.Pool


@asynccontextmanager
async def _connection(db: Db) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            yield conn
    else:
        yield db


def _record(row: asyncpg.Record) -> ModelRecord:
    data = dict(row)
    data["metrics"] = json.loads(data["metrics"]) if data["metrics"] else {}
    return ModelRecord(**data)


async def register_candidate(
    db: Db,
    model_name: str,
    version: str,
    artifact_path: str,
    metrics: dict[str, Any] | None = None,
    training_date: datetime | None = None,
) -> ModelRecord:
    if not model_name or not version or not artifact_path:
        raise RegistryError("model_name, version and artifact_path are required")
    async with _connection(db) as conn:
        try:
            row = await conn.fetchrow(
                f"""INSERT INTO model_registry (model_name, version, artifact_path, metrics, training_date, status)
                    VALUES ($1, $2, $3, $4::text::jsonb, coalesce($5, now()), 'candidate')
                    RETURNING {_COLUMNS}""",
                model_name,
                version,
                artifact_path,
                json.dumps(metrics or {}),
                training_date,
            )
        except asyncpg.UniqueViolationError:
            raise RegistryConflict(f"{model_name}@{version} is already registered") from None
    return _record(row)


async def get_model(db: Db, model_name: str, version: str) -> ModelRecord:
    async with _connection(db) as conn:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM model_registry WHERE model_name = $1 AND version = $2", model_name, version
        )
    if row is None:
        raise ModelNotFound(f"{model_name}@{version} is not registered")
    return _record(row)


async def get_production(db: Db, model_name: str) -> ModelRecord | None:
    async with _connection(db) as conn:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM model_registry WHERE model_name = $1 AND status = 'production'", model_name
        )
    return _record(row) if row else None


async def first_with_status(db: Db, names: tuple[str, ...], status: str) -> ModelRecord | None:
    """The newest model in `status` of the first of `names` that has one (serving's question, one indexed read)."""
    async with _connection(db) as conn:
        row = await conn.fetchrow(
            f"""SELECT {_COLUMNS} FROM model_registry WHERE status = $1 AND model_name = ANY($2::text[])
                ORDER BY array_position($2::text[], model_name), created_at DESC, id DESC LIMIT 1""",
            status, list(names))
    return _record(row) if row else None


async def list_models(db: Db, model_name: str | None = None, statuses: tuple[str, ...] | None = None) -> list[ModelRecord]:
    async with _connection(db) as conn:
        rows = await conn.fetch(
            f"""SELECT {_COLUMNS} FROM model_registry
                WHERE ($1::text IS NULL OR model_name = $1) AND ($2::text[] IS NULL OR status = ANY($2::text[]))
                ORDER BY model_name, created_at, id""",
            model_name,
            list(statuses) if statuses else None,
        )
    return [_record(r) for r in rows]


async def transition(db: Db, model_name: str, version: str, to_status: str, *, _expect_production: str | None = None) -> ModelRecord:
    """Move one model to `to_status`; to production retires the current production model in the same transaction."""
    if to_status not in STATUSES:
        raise InvalidTransition(f"unknown status {to_status!r}; use one of {', '.join(STATUSES)}")
    async with _connection(db) as conn:
        try:
            async with conn.transaction():
                current = await conn.fetchrow(
                    "SELECT status FROM model_registry WHERE model_name = $1 AND version = $2 FOR UPDATE",
                    model_name,
                    version,
                )
                if current is None:
                    raise ModelNotFound(f"{model_name}@{version} is not registered")
                if to_status not in ALLOWED[current["status"]]:
                    allowed = ", ".join(sorted(ALLOWED[current["status"]])) or "nothing"
                    raise InvalidTransition(
                        f"{model_name}@{version} is {current['status']}; it can move to {allowed}, not {to_status}"
                    )
                if to_status == "production":
                    retired = await conn.fetch(
                        """UPDATE model_registry SET status = 'retired'
                           WHERE model_name = $1 AND status = 'production' RETURNING version""",
                        model_name,
                    )
                    if _expect_production is not None:
                        previous = retired[0]["version"] if retired else ""
                        if previous != _expect_production:
                            raise GateBlocked(
                                f"the gate compared against production {_expect_production or '(none)'} but production "
                                f"is now {previous or '(none)'}: re-evaluate before promoting"
                            )
                    row = await conn.fetchrow(
                        f"""UPDATE model_registry SET status = 'production', promoted_at = now()
                            WHERE model_name = $1 AND version = $2 RETURNING {_COLUMNS}""",
                        model_name,
                        version,
                    )
                else:
                    row = await conn.fetchrow(
                        f"""UPDATE model_registry SET status = $3
                            WHERE model_name = $1 AND version = $2 RETURNING {_COLUMNS}""",
                        model_name,
                        version,
                        to_status,
                    )
        except asyncpg.UniqueViolationError as exc:
            raise RegistryConflict(
                f"the database refused a second production row for {model_name} ({exc.constraint_name}); "
                "the registry is unchanged"
            ) from None
    return _record(row)


async def promote(db: Db, model_name: str, version: str, decision: GateDecision) -> ModelRecord:
    """Gated promotion of a shadow model: refuses unless the decision passed, and unless the production model the
    decision was measured against is still the production model (the decision names it as name@version, or as a
    baseline when there was no production model). The decision is recorded on the promoted row."""
    if not decision.passed:
        raise GateBlocked(decision.reason)
    if decision.candidate_model != f"{model_name}@{version}":
        raise GateBlocked(f"the decision is about {decision.candidate_model}, not {model_name}@{version}")
    expected = ""
    if decision.reference_model.startswith(f"{model_name}@"):
        expected = decision.reference_model.split("@", 1)[1]
    async with _connection(db) as conn:
        async with conn.transaction():
            await transition(conn, model_name, version, "production", _expect_production=expected)
            await _merge_metrics(conn, model_name, version, ["promotion"], decision.to_dict())
        return await get_model(conn, model_name, version)


async def _merge_metrics(conn: asyncpg.Connection, model_name: str, version: str, path: list[str], value: Any) -> None:
    """metrics #> path := value, creating intermediate objects (jsonb_set only creates the last key)."""
    expr = "coalesce(metrics, '{}'::jsonb)"
    for depth in range(1, len(path)):
        prefix = "{" + ",".join(path[:depth]) + "}"
        expr = f"jsonb_set({expr}, '{prefix}', coalesce(metrics #> '{prefix}', '{{}}'::jsonb), true)"
    status = await conn.execute(
        f"UPDATE model_registry SET metrics = jsonb_set({expr}, $3::text[], $4::text::jsonb, true) "
        "WHERE model_name = $1 AND version = $2",
        model_name,
        version,
        path,
        json.dumps(value),
    )
    if status.endswith(" 0"):
        raise ModelNotFound(f"{model_name}@{version} is not registered")


async def record_evaluation(db: Db, model_name: str, version: str, eval_set: str, summary: dict[str, Any]) -> ModelRecord:
    """Store one evaluation's summary under metrics.evaluations.<eval_set>, keeping the others."""
    if not eval_set or any(c in eval_set for c in ",{}\"'"):
        raise RegistryError(f"invalid eval_set key {eval_set!r}")
    async with _connection(db) as conn:
        async with conn.transaction():
            await _merge_metrics(conn, model_name, version, ["evaluations", eval_set], summary)
            await _merge_metrics(conn, model_name, version, ["latest_evaluation"], eval_set)
        return await get_model(conn, model_name, version)


async def promote_manually(db: Db, model_name: str, version: str, reason: str, by: str | None) -> ModelRecord:
    """An operator's promotion of a shadow model, without a passing gate: allowed (someone has to be able to act
    on evidence the gate does not see), and recorded on the row as manual, with the reason and who gave it."""
    async with _connection(db) as conn:
        async with conn.transaction():
            current = await get_model(conn, model_name, version)
            if current.status != "shadow":
                raise InvalidTransition(f"{model_name}@{version} is {current.status}; only a model in shadow can be "
                                        "promoted (a candidate has to pass the held-out gate first)")
            await transition(conn, model_name, version, "production")
            await _merge_metrics(conn, model_name, version, ["promotion"],
                                 {"manual": True, "reason": reason, "by": by, "passed": None})
        return await get_model(conn, model_name, version)


async def rollback(db: Db, model_name: str, reason: str, by: str | None) -> tuple[ModelRecord, ModelRecord]:
    """Put the previous production model of `model_name` back and retire the current one, in one transaction.
    The previous one is the retired model that was promoted most recently before the current one. Returns
    (restored, retired). Raises ModelNotFound when there is no production model or nothing to go back to."""
    async with _connection(db) as conn:
        async with conn.transaction():
            current = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM model_registry WHERE model_name = $1 AND status = 'production' FOR UPDATE",
                model_name)
            if current is None:
                raise ModelNotFound(f"{model_name} has no production model to roll back")
            previous = await conn.fetchrow(
                f"""SELECT {_COLUMNS} FROM model_registry
                    WHERE model_name = $1 AND status = 'retired' AND promoted_at IS NOT NULL AND promoted_at < $2
                    ORDER BY promoted_at DESC, id DESC LIMIT 1 FOR UPDATE""",
                model_name, current["promoted_at"])
            if previous is None:
                raise ModelNotFound(f"{model_name}@{current['version']} is the first production {model_name}; there "
                                    "is no earlier one to roll back to (retire it instead)")
            await conn.execute("UPDATE model_registry SET status = 'retired' WHERE id = $1", current["id"])
            await conn.execute("UPDATE model_registry SET status = 'production', promoted_at = now() WHERE id = $1",
                               previous["id"])
            note = {"reason": reason, "by": by, "from": current["version"], "to": previous["version"]}
            await _merge_metrics(conn, model_name, previous["version"], ["rollback"], note)
            await _merge_metrics(conn, model_name, current["version"], ["rolled_back"], note)
            return (await get_model(conn, model_name, previous["version"]),
                    await get_model(conn, model_name, current["version"]))

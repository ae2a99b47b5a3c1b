"""Session fixtures for the real local stand-ins.

`pg_dsn` starts one embedded Postgres for the session with every migration applied; `stack` starts the rest
of the local stack (Redis, Qdrant, the emulators, every function, the gateway) on free ports, reusing that
Postgres. Both stop everything they started.
"""
from __future__ import annotations

import asyncio
import os

import pytest

from emulators.procs import ProcessTable
from emulators.stack import Stack, free_port


@pytest.fixture(scope="session")
def pg_dsn(tmp_path_factory: pytest.TempPathFactory):
    from emulators.postgres import start_postgres
    from shared.db.migrate import apply_migrations
    from shared.settings import get_settings

    state = tmp_path_factory.mktemp("pg")
    table = ProcessTable(state)
    try:
        dsn = start_postgres(table, state / "data", free_port())
        asyncio.run(apply_migrations(dsn, log=lambda _m: None))
        os.environ["DATABASE_URL"] = dsn
        get_settings.cache_clear()
        yield dsn
    finally:
        table.stop_all()


@pytest.fixture(scope="session")
def stack(pg_dsn: str, tmp_path_factory: pytest.TempPathFactory):
    """The whole local stack; DATABASE_URL is the session's Postgres, everything else is started here."""
    local = Stack(state_dir=tmp_path_factory.mktemp("stack"), dynamic_ports=True, scheduler=False,
                  progress=lambda _m: None)
    try:
        local.up()
        local.export()
        yield local
    finally:
        local.down(quiet=True)

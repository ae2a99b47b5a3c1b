"""Session fixtures for the real local stand-ins.

`pg_dsn` starts one embedded Postgres for the session with every migration applied; `stack` starts the rest
of the local stack (Redis, Qdrant, the emulators, every function, the gateway) on free ports, reusing that
Postgres. Both stop everything they started.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from emulators.procs import ProcessTable
from emulators.stack import Stack, free_port
from shared.settings import DEFAULT_RATE_LIMITS, get_settings
from tests.fakes.calendar_server import FakeCalendar

# Tests call push and task handlers directly, without Google's OIDC tokens: the local stack's mode (in the cloud
# the default, oidc, verifies them; tests/unit/foundation/test_caller_identity.py covers that).
os.environ.setdefault("CALLER_AUTH", "local")
UNREACHABLE_RATE_LIMITS = {f"RATE_LIMIT_{name.upper()}": "100000/1" for name in DEFAULT_RATE_LIMITS}


def _own_temp_dir(prefix: str) -> Path:
    """Outside pytest's basetemp: that one is private to root (0700), which the unprivileged Postgres user
    cannot traverse, and concurrent pytest sessions prune each other's numbered folders."""
    return Path(tempfile.mkdtemp(prefix=f"concierge-{prefix}-"))


@pytest.fixture(scope="session")
def pg_dsn():
    from emulators.postgres import start_postgres
    from shared.db.migrate import apply_migrations

    state = _own_temp_dir("pg")
    table = ProcessTable(state)
    try:
        dsn = start_postgres(table, state / "data", free_port())
        asyncio.run(apply_migrations(dsn, log=lambda _m: None))
        os.environ["DATABASE_URL"] = dsn
        get_settings.cache_clear()
        yield dsn
    finally:
        table.stop_all()
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(pg_dsn: str):
    """The whole local stack; DATABASE_URL is the session's Postgres, everything else is started here."""
    state = _own_temp_dir("stack")
    # The suite plans hundreds of trips for a handful of users: the stack's functions get limits it cannot reach
    # (they inherit the environment). The limits themselves are tested in foundation/test_rate_limits.py.
    os.environ.update(UNREACHABLE_RATE_LIMITS)
    # the recommendations function asks the registry every second (not 30): a test's rollback serves at once
    os.environ["RECS_MODEL_REFRESH_S"] = "1"
    os.environ["SUGGEST_MODEL_REFRESH_S"] = "1"  # likewise for the suggest function (a removed model falls back)
    # and the search function asks it for its index version every second: a promotion or a canary serves at once
    os.environ["SEARCH_INDEX_REFRESH_S"] = "1"
    # Google Calendar cannot exist here: the stack's functions read free/busy from a local fake of its wire format
    # (tests add calendars to `stack.calendar.calendars`)
    calendar = FakeCalendar().start()
    os.environ.update(GOOGLE_CALENDAR_BASE_URL=calendar.base_url, GOOGLE_CALENDAR_ACCESS_TOKEN=calendar.token)
    get_settings.cache_clear()
    local = Stack(state_dir=state, dynamic_ports=True, scheduler=False,
                  progress=lambda _m: None)
    local.calendar = calendar
    try:
        local.up()
        local.export()
        yield local
    finally:
        local.down(quiet=True)
        calendar.stop()
        shutil.rmtree(state, ignore_errors=True)

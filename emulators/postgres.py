"""Embedded PostgreSQL 16 + pgvector from the pgserver wheel's binaries.

pgserver ships initdb/pg_ctl/postgres and vector.so. Postgres refuses to run as root, so when we are
root the server runs as an unprivileged user (CONCIERGE_PG_USER, default 'nobody') that owns the data dir.
"""
from __future__ import annotations

import os
import pwd
import signal
import shutil
import subprocess
from pathlib import Path

from emulators.procs import ProcessTable, StackError, demote


def pg_bin_dir() -> Path:
    try:
        import pgserver
    except ImportError as exc:
        raise StackError("pgserver is not installed: run `make install` (it installs the [local] extras)") from exc
    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    user = os.environ.get("CONCIERGE_PG_USER", "nobody")
    try:
        pwd.getpwnam(user)
    except KeyError:
        raise StackError(f"running as root, and user {user!r} does not exist to run Postgres: set CONCIERGE_PG_USER") from None
    return user


def _chown_tree(path: Path, user: str) -> None:
    pw = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for name in files:
            os.chown(os.path.join(root, name), pw.pw_uid, pw.pw_gid)


def _ensure_traversable(path: Path) -> None:
    """The unprivileged user must be able to reach the data dir through every parent folder."""
    for parent in list(path.parents)[:-1]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)


def start_postgres(table: ProcessTable, data_dir: Path, port: int) -> str:
    """Start (initialising on first use) and return the DSN of the `concierge` database."""
    bin_dir = pg_bin_dir()
    user = _run_as()
    pgdata = data_dir / "pgdata"
    sock_dir = data_dir / "sock"
    sock_dir.mkdir(parents=True, exist_ok=True)
    if user:
        _ensure_traversable(data_dir)
        _chown_tree(data_dir, user)
    if not (pgdata / "PG_VERSION").exists():
        if pgdata.exists():
            shutil.rmtree(pgdata)
        pgdata.mkdir(parents=True)
        if user:
            _chown_tree(data_dir, user)
        cmd = [str(bin_dir / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
        result = subprocess.run(
            cmd, capture_output=True, text=True, preexec_fn=demote(user) if user else None
        )
        if result.returncode != 0:
            raise StackError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")
    lock = pgdata / "postmaster.pid"
    if lock.exists():
        holder = int(lock.read_text().split()[0] or 0)
        if holder and _alive(holder):
            raise StackError(f"another Postgres (pid {holder}) is using {pgdata}: stop it (`concierge-stack down`) first")
        lock.unlink()  # left by a crashed earlier run
    argv = [
        str(bin_dir / "postgres"), "-D", str(pgdata), "-p", str(port), "-k", str(sock_dir),
        "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
        "-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=128MB",
    ]
    # SIGINT is Postgres' fast shutdown; SIGTERM would wait for every client (the functions' pools) to leave.
    proc = table.spawn("postgres", argv, port=port, user=user, stop_signal=signal.SIGINT)
    from emulators.procs import wait_port

    wait_port(port, 30, proc, "postgres")
    _wait_accepting(bin_dir, port, user)
    _create_database(bin_dir, port, user)
    return f"postgresql://postgres@127.0.0.1:{port}/concierge"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _psql(bin_dir: Path, port: int, user: str | None, sql: str, db: str = "postgres") -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", db, "-tAc", sql],
        capture_output=True, text=True,
    )


def _wait_accepting(bin_dir: Path, port: int, user: str | None) -> None:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _psql(bin_dir, port, user, "select 1").returncode == 0:
            return
        time.sleep(0.1)
    raise StackError(f"postgres on port {port} did not accept connections within 30s")


def _create_database(bin_dir: Path, port: int, user: str | None) -> None:
    exists = _psql(bin_dir, port, user, "select 1 from pg_database where datname='concierge'")
    if exists.stdout.strip() != "1":
        created = _psql(bin_dir, port, user, "create database concierge")
        if created.returncode != 0:
            raise StackError(f"could not create database: {created.stderr.strip()}")

"""`up` records what it starts and `down` stops exactly that; problems are reported before anything starts."""
from __future__ import annotations

import os
import socket

import psutil
import pytest

from emulators import services
from emulators.procs import StackError
from emulators.stack import Stack
from tests.conftest import _own_temp_dir

pytestmark = pytest.mark.integration


def test_down_leaves_nothing_running(pg_dsn, monkeypatch):
    tmp_path = _own_temp_dir("lifecycle")
    for setting in ("REDIS_URL", "QDRANT_URL"):  # start its own, even when the session stack exported one
        monkeypatch.delenv(setting, raising=False)
    stack = Stack(state_dir=tmp_path / "stack", dynamic_ports=True, scheduler=True, progress=lambda _m: None)
    stack.up()
    pids = [p.pid for p in stack.table.procs]
    assert {p.name for p in stack.table.procs} >= {"redis", "qdrant", "pubsub", "tasks", "gcs", "gateway", "scheduler"}
    children = [c.pid for pid in pids for c in psutil.Process(pid).children(recursive=True)]
    stack.down(quiet=True)
    still = [pid for pid in pids + children if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert still == []
    assert Stack(state_dir=tmp_path / "stack").status()["running"] is False


def test_missing_prerequisite_stops_before_starting_anything(tmp_path, monkeypatch):
    monkeypatch.setattr(services.shutil, "which", lambda name: None if name in ("gcloud", "java") else "/bin/true")
    stack = Stack(state_dir=tmp_path / "stack", dynamic_ports=True, progress=lambda _m: None)
    with pytest.raises(StackError, match="gcloud CLI is not installed.*pubsub-emulator"):
        stack.up()
    assert stack.table.procs == []


def test_taken_port_is_reported_with_its_holder(tmp_path, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        import emulators.stack as stack_module

        monkeypatch.setitem(stack_module.DEFAULT_PORTS, "redis", port)
        monkeypatch.delenv("REDIS_URL", raising=False)
        stack = Stack(state_dir=tmp_path / "stack", progress=lambda _m: None)
        with pytest.raises(StackError, match=f"port {port} \\(redis\\) is taken by pid {os.getpid()} "):
            stack.up()
        assert stack.table.procs == []

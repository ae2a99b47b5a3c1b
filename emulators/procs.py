"""Start, record, health-check and stop the stack's processes.

Every process is started in its own session (process group) and its PID written to the state file,
so `down` stops exactly what `up` started, children included, and nothing else.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil


class StackError(RuntimeError):
    """A stand-in could not start; the message says what to do next."""


@dataclass
class Proc:
    name: str
    pid: int
    port: int | None
    log: str
    stop_signal: int = signal.SIGTERM


def port_holder(port: int) -> str | None:
    """Describe the process listening on 127.0.0.1:port, or None when the port is free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return None
        except OSError:
            pass
    try:
        for conn in psutil.net_connections(kind="inet"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                proc = psutil.Process(conn.pid)
                return f"pid {conn.pid} ({' '.join(proc.cmdline()[:3])})"
    except (psutil.Error, PermissionError):
        pass
    return "an unknown process"


def wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None, name: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{name} exited with code {proc.returncode} before listening on port {port}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise StackError(f"{name or 'process'} did not listen on port {port} within {timeout:.0f}s")


def demote(user: str) -> Callable[[], None]:
    """A preexec_fn that drops root to `user` (embedded Postgres refuses to run as root)."""
    import pwd

    pw = pwd.getpwnam(user)

    def drop() -> None:
        os.setgid(pw.pw_gid)
        os.setgroups([])
        os.setuid(pw.pw_uid)

    return drop


class ProcessTable:
    """The PIDs the stack started, persisted so another `down` invocation can stop them."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.state_file = state_dir / "processes.json"
        self.log_dir = state_dir / "logs"
        self.procs: list[Proc] = []
        if self.state_file.exists():
            self.procs = [Proc(**p) for p in json.loads(self.state_file.read_text())]

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps([p.__dict__ for p in self.procs], indent=1))

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "ab")
        preexec = demote(user) if user is not None else None
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=str(cwd) if cwd else None,
            start_new_session=True,
            preexec_fn=preexec,
        )
        log.close()
        self.procs.append(Proc(name=name, pid=proc.pid, port=port, log=str(log_path), stop_signal=int(stop_signal)))
        self.save()
        return proc

    def alive(self) -> list[Proc]:
        return [p for p in self.procs if psutil.pid_exists(p.pid) and _not_zombie(p.pid)]

    def stop_all(self, timeout: float = 8.0) -> list[str]:
        """Signal every recorded process group (SIGTERM, or the process's own stop signal), newest first,
        then SIGKILL what is left after the timeout."""
        stopped = []
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, proc.stop_signal)
                stopped.append(proc.name)
            except (ProcessLookupError, PermissionError):
                continue
        deadline = time.monotonic() + timeout
        for proc in reversed(self.procs):
            while time.monotonic() < deadline and psutil.pid_exists(proc.pid) and _not_zombie(proc.pid):
                time.sleep(0.05)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.procs = []
        if self.state_file.exists():
            self.state_file.unlink()
        return stopped


def _not_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False

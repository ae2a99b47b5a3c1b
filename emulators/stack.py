"""The whole local stack: stand-ins, declared resources, every function as its own process, the gateway
and the scheduler. `up` starts what is missing in parallel, health-checks it and records every PID;
`down` stops exactly what was recorded.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from emulators import services
from emulators.procs import ProcessTable, StackError, port_holder, wait_port
from infra.pulumi.declaration import load, problems_in

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".local" / "stack"
LOCAL_ADMIN_TOKEN = "local-admin-token"
LOCAL_PSEUDONYM_SALT = "local-only-pseudonym-salt"  # the cloud's comes from Secret Manager
EXTERNAL_SETTINGS = ("DATABASE_URL", "REDIS_URL", "QDRANT_URL")

# Fixed ports for the developer stack (a test stack asks for free ones instead).
DEFAULT_PORTS = {"gateway": 8080, "postgres": 54329, "redis": 63799, "qdrant": 63333, "pubsub": 8085,
                 "tasks": 9022, "gcs": 9023}
FUNCTION_PORT_BASE = 8101


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _reset_clients() -> None:
    """Settings and adapter clients are cached per process; rebuild them after the environment changes."""
    from shared.settings import get_settings

    get_settings.cache_clear()
    for module in ("shared.adapters.pubsub", "shared.adapters.tasks", "shared.adapters.storage",
                   "shared.adapters.redis_cache", "shared.adapters.qdrant"):
        mod = sys.modules.get(module)
        for attr in ("_publisher", "_client", "get_storage", "_cached"):
            fn = getattr(mod, attr, None) if mod else None
            if fn is not None and hasattr(fn, "cache_clear"):
                fn.cache_clear()


@dataclass
class Stack:
    state_dir: Path = DEFAULT_STATE_DIR
    dynamic_ports: bool = False
    scheduler: bool = True
    project: str = "concierge-local"
    region: str = "europe-west1"
    progress: Callable[[str], None] = print
    ports: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    function_ports: dict[str, int] = field(default_factory=dict)
    # functions with a declared canary split (resources.yaml `traffic`) run a second, candidate backend
    candidate_ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)
        self.table = ProcessTable(self.state_dir)
        self.decl = load(strict=False)
        self.warnings = problems_in(self.decl)
        saved = self.state_dir / "stack.json"
        if saved.exists() and self.table.alive():
            state = json.loads(saved.read_text())
            self.ports, self.env, self.function_ports = state["ports"], state["env"], state["function_ports"]
            self.candidate_ports = state.get("candidate_ports", {})

    # --- addresses -------------------------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def function_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.function_ports[name]}"

    def candidate_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.candidate_ports[name]}"

    def _assign_ports(self) -> None:
        external = {k for k in EXTERNAL_SETTINGS if os.environ.get(k)}
        wanted = dict(DEFAULT_PORTS)
        for name, setting in (("postgres", "DATABASE_URL"), ("redis", "REDIS_URL"), ("qdrant", "QDRANT_URL")):
            if setting in external:
                wanted.pop(name)
        functions = {name: FUNCTION_PORT_BASE + i for i, name in enumerate(self.decl.functions)}
        split = [t.function for t in self.decl.traffic if t.function in functions]
        candidates = {name: FUNCTION_PORT_BASE + len(functions) + i for i, name in enumerate(split)}
        if self.dynamic_ports:
            wanted = {k: free_port() for k in wanted}
            functions = {k: free_port() for k in functions}
            candidates = {k: free_port() for k in candidates}
        busy = [f"port {p} ({name}) is taken by {holder}"
                for name, p in {**wanted, **{f"function {k}": v for k, v in functions.items()},
                                **{f"candidate {k}": v for k, v in candidates.items()}}.items()
                if (holder := port_holder(p))]
        if busy:
            raise StackError("cannot start: " + "; ".join(busy) +
                             ". Stop that process, or run `concierge-stack down` if it is an earlier stack.")
        self.ports, self.function_ports, self.candidate_ports = wanted, functions, candidates

    def _base_env(self) -> dict[str, str]:
        env = {
            "GOOGLE_CLOUD_PROJECT": self.project,
            "GOOGLE_CLOUD_REGION": self.region,
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{self.ports['pubsub']}",
            "CLOUD_TASKS_EMULATOR_HOST": f"127.0.0.1:{self.ports['tasks']}",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{self.ports['gcs']}",
            "ADMIN_TOKEN": os.environ.get("ADMIN_TOKEN", LOCAL_ADMIN_TOKEN),
            "SIGNAL_PSEUDONYM_SALT": os.environ.get("SIGNAL_PSEUDONYM_SALT", LOCAL_PSEUDONYM_SALT),
            "CONCIERGE_GATEWAY_URL": f"http://127.0.0.1:{self.ports['gateway']}",
            # The Pub/Sub and Cloud Tasks emulators attach no OIDC token: push and task handlers skip the check
            "CALLER_AUTH": "local",
        }
        for key in EXTERNAL_SETTINGS + ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CONCIERGE_DATA_DIR",
                                        "CONCIERGE_MODEL_DIR", "PLACES_API_KEY", "PLACES_BASE_URL"):
            if os.environ.get(key):
                env[key] = os.environ[key]
        for name, port in self.function_ports.items():
            env[f"FUNCTION_URL_{name.upper()}"] = f"http://127.0.0.1:{port}"
        return env

    def export(self) -> None:
        """Point this process's clients at the stack (tests and the demo run in-process code too).
        `down` withdraws what was exported, so a later stack in the same process starts its own services."""
        if not getattr(self, "_previous", None):
            self._previous = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        _reset_clients()

    def _withdraw_env(self) -> None:
        """Put back what export() replaced (another stack's settings, or nothing), then rebuild clients."""
        for key, before in (getattr(self, "_previous", None) or {}).items():
            if os.environ.get(key) != self.env.get(key):
                continue  # changed since by someone else: leave it
            if before is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = before
        self._previous = {}
        _reset_clients()

    # --- lifecycle -------------------------------------------------------------------------------

    def up(self) -> dict[str, str]:
        if self.table.alive():
            raise StackError(f"a stack is already running from {self.state_dir}: run `concierge-stack down` first")
        started = time.monotonic()
        services.check_prerequisites({k: "" for k in EXTERNAL_SETTINGS if os.environ.get(k)})
        self._assign_ports()
        self.env = self._base_env()
        self.progress(f"starting the local stack (state in {self.state_dir})")
        for warning in self.warnings:
            self.progress(f"  warning: {warning} (skipped)")
        try:
            self._start_all(started)
        except BaseException:
            self.progress("start failed; stopping what was started")
            self.down(quiet=True)
            raise
        self._save()
        self.progress(f"stack healthy in {time.monotonic() - started:.1f}s; gateway at {self.gateway_url}")
        return self.env

    def _step(self, started: float, what: str) -> None:
        self.progress(f"  [{time.monotonic() - started:5.1f}s] {what}")

    def _start_all(self, started: float) -> None:
        data = self.state_dir / "data"
        env_out: dict[str, str] = {}

        def postgres() -> None:
            if os.environ.get("DATABASE_URL"):
                return
            from emulators.postgres import start_postgres

            env_out["DATABASE_URL"] = start_postgres(self.table, data / "postgres", self.ports["postgres"])
            self._step(started, "postgres up")

        def redis() -> None:
            if "redis" in self.ports:
                env_out["REDIS_URL"] = services.start_redis(self.table, self.ports["redis"])
                self._step(started, "redis up")

        def qdrant() -> None:
            if "qdrant" in self.ports:
                env_out["QDRANT_URL"] = services.start_qdrant(self.table, self.ports["qdrant"], data / "qdrant")
                self._step(started, "qdrant up")

        def pubsub() -> None:
            services.start_pubsub(self.table, self.ports["pubsub"], data / "pubsub")
            self._step(started, "pub/sub emulator up")

        def tasks() -> None:
            services.start_tasks(self.table, self.ports["tasks"])
            self._step(started, "cloud tasks emulator up")

        def gcs() -> None:
            services.start_gcs(self.table, self.ports["gcs"], data / "gcs")
            self._step(started, "gcs emulator up")

        # Java (Pub/Sub) is the slowest to start: launch it first, everything else in parallel with it.
        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(fn) for fn in (pubsub, postgres, redis, qdrant, tasks, gcs)]
            for future in futures:
                future.result()
        self.env.update(env_out)
        self.export()

        # Functions import in parallel with the migrations and resource creation.
        for name in self.decl.functions:
            self.start_function(name, wait=False)
        for name in self.candidate_ports:
            self.start_function(name, wait=False, candidate=True)
        self._spawn_gateway()
        self._prepare_resources(started)
        for name in self.decl.functions:
            wait_port(self.function_ports[name], 30, None, f"function {name}")
        for name, port in self.candidate_ports.items():
            wait_port(port, 30, None, f"function {name} (candidate)")
        self._step(started, f"{len(self.decl.functions)} functions up")
        wait_port(self.ports["gateway"], 15, None, "gateway")
        if self.scheduler:
            self.table.spawn("scheduler", [sys.executable, "-m", "emulators.scheduler"],
                             env=self._child_env(), cwd=REPO_ROOT)
        self._wait_healthy(started)

    def _prepare_resources(self, started: float) -> None:
        import asyncio

        from shared.db.migrate import apply_migrations

        applied = asyncio.run(apply_migrations(self.env["DATABASE_URL"], log=lambda _m: None))
        self._step(started, f"migrations applied ({len(applied)} new)")
        urls = {name: self.function_url(name) for name in self.decl.functions}
        services.create_pubsub_resources(self.decl, self.project, urls)
        self._step(started, f"pub/sub: {len(self.decl.topics)} topics, {len(self.decl.subscriptions)} subscriptions")
        services.create_queues(self.decl, self.project, self.region)
        self._step(started, f"cloud tasks: {len(self.decl.queues)} queues")
        services.create_buckets(self.decl)
        self._step(started, f"gcs: {len(self.decl.buckets)} buckets")

    def _wait_healthy(self, started: float) -> None:
        import httpx

        deadline = time.monotonic() + 30
        last = ""
        while time.monotonic() < deadline:
            try:
                resp = httpx.get(f"{self.gateway_url}/v1/health", timeout=5)
                if resp.status_code == 200:
                    self._step(started, "health: all dependencies up")
                    return
                last = resp.text
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise StackError(f"the stack did not become healthy: {last}")

    def _child_env(self) -> dict[str, str]:
        return services._py_env(self.env)

    def _spawn_gateway(self) -> None:
        from infra.pulumi.openapi import backends_named

        urls = {name: f"missing://{name}" for name in backends_named()}  # answered 503 by the gateway
        urls.update({name: self.function_url(name) for name in self.decl.functions})
        urls.update({f"{name}@candidate": self.candidate_url(name) for name in self.candidate_ports})
        self.table.spawn(
            "gateway",
            [sys.executable, "-m", "emulators.gateway", "--port", str(self.ports["gateway"]),
             "--urls", json.dumps(urls), "--project", self.project],
            port=self.ports["gateway"], env=self._child_env(), cwd=REPO_ROOT,
        )

    def start_function(self, name: str, wait: bool = True, candidate: bool = False) -> None:
        """Each function is its own functions-framework process, as each is its own Cloud Run service. A function
        with a declared canary split also runs as a candidate backend (the candidate revision): K_REVISION names
        which one answered, SEARCH_INDEX_CHANNEL tells the search function which registry status it serves."""
        port = self.candidate_ports[name] if candidate else self.function_ports[name]
        role = "candidate" if candidate else "stable"
        revision = {"K_REVISION": f"{name}-{role}", "SEARCH_INDEX_CHANNEL": role} \
            if name in self.candidate_ports else {}
        proc = self.table.spawn(
            f"function-{name}" + ("-candidate" if candidate else ""),
            [str(Path(sys.executable).parent / "functions-framework"), "--target", "handle",
             "--source", str(REPO_ROOT / "functions" / name / "main.py"), "--host", "127.0.0.1", "--port", str(port)],
            port=port, env={**self._child_env(), "K_SERVICE": name, "FUNCTION_TARGET": "handle", **revision},
            cwd=REPO_ROOT,
        )
        if wait:
            wait_port(port, 30, proc, f"function {name}")

    def stop_function(self, name: str) -> None:
        self._kill(f"function-{name}")

    def _kill(self, process: str) -> None:
        import signal as _signal

        for proc in [p for p in self.table.procs if p.name == process]:
            try:
                os.killpg(proc.pid, _signal.SIGKILL)
                os.waitpid(proc.pid, 0)
            except (ProcessLookupError, ChildProcessError, PermissionError):
                pass
            self.table.procs.remove(proc)
        self.table.save()

    RESTARTABLE = ("postgres", "redis", "qdrant", "pubsub")

    def stop_dependency(self, name: str) -> None:
        """Kill one stand-in the way a crash would (the fault-matrix tests); start_dependency brings it back on
        the same port and data directory, so clients reconnect to what they had."""
        if name not in self.RESTARTABLE or name not in self.ports:
            raise StackError(f"{name} is not a dependency this stack started ({', '.join(self.RESTARTABLE)})")
        self._kill(name)

    def start_dependency(self, name: str) -> None:
        from emulators.postgres import start_postgres

        data, port = self.state_dir / "data", self.ports[name]
        if name == "postgres":
            start_postgres(self.table, data / "postgres", port)
        elif name == "redis":
            services.start_redis(self.table, port)
        elif name == "qdrant":
            services.start_qdrant(self.table, port, data / "qdrant")
        elif name == "pubsub":  # the emulator keeps nothing: topics and subscriptions are declared again
            services.start_pubsub(self.table, port, data / "pubsub")
            services.create_pubsub_resources(self.decl, self.project,
                                             {n: self.function_url(n) for n in self.decl.functions})
        self.table.save()

    def _save(self) -> None:
        (self.state_dir / "stack.json").write_text(json.dumps(
            {"ports": self.ports, "env": self.env, "function_ports": self.function_ports,
             "candidate_ports": self.candidate_ports}, indent=1))

    def down(self, quiet: bool = False) -> list[str]:
        stopped = self.table.stop_all()
        self._withdraw_env()
        saved = self.state_dir / "stack.json"
        if saved.exists():
            saved.unlink()
        if not quiet:
            self.progress(f"stopped {len(stopped)} processes" if stopped else "nothing was running")
        return stopped

    def status(self) -> dict[str, object]:
        alive = {p.name for p in self.table.alive()}
        return {
            "running": bool(alive),
            "processes": [{"name": p.name, "pid": p.pid, "port": p.port, "alive": p.name in alive, "log": p.log}
                          for p in self.table.procs],
            "gateway_url": self.gateway_url if self.ports else None,
        }

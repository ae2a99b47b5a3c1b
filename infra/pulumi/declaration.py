"""Load resources.yaml and discover the deployable units, for Pulumi and the local stack alike."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

PULUMI_DIR = Path(__file__).resolve().parent
REPO_ROOT = PULUMI_DIR.parent.parent
DECLARATION_FILE = PULUMI_DIR / "resources.yaml"
OPENAPI_FILE = PULUMI_DIR / "openapi.yaml"


@dataclass(frozen=True)
class Topic:
    name: str
    publishers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Bucket:
    name: str
    writers: tuple[str, ...] = ()
    readers: tuple[str, ...] = ()
    mount: str | None = None  # mounted read-only at this path into its readers (a Cloud Run GCS volume)


@dataclass(frozen=True)
class Secret:
    name: str
    readers: tuple[str, ...] = ()
    optional: bool = False  # the code runs without it (labelled fallbacks): no value configured, nothing mounted


@dataclass(frozen=True)
class Subscription:
    name: str
    topic: str
    push_to: str | None = None
    subscribers: tuple[str, ...] = ()
    ack_deadline_s: int = 10
    max_delivery_attempts: int | None = None
    dead_letter_topic: str | None = None
    min_backoff_s: int = 10
    max_backoff_s: int = 600


@dataclass(frozen=True)
class Queue:
    name: str
    target: str
    max_dispatches_per_second: float = 10
    max_concurrent_dispatches: int = 10
    max_attempts: int = 5
    enqueued_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str
    job: str
    timezone: str = "Etc/UTC"


@dataclass(frozen=True)
class TrafficSplit:
    """A canary split: the candidate revision's share of `function`'s requests (0 = everything on stable)."""
    function: str
    candidate_percent: int


@dataclass(frozen=True)
class Declaration:
    topics: list[str]
    subscriptions: list[Subscription]
    queues: list[Queue]
    buckets: list[str]
    schedules: list[Schedule]
    secrets: list[str]
    functions: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    # who may use each resource (the grants Pulumi makes, one resource at a time)
    topic_grants: list[Topic] = field(default_factory=list)
    bucket_grants: list[Bucket] = field(default_factory=list)
    secret_grants: list[Secret] = field(default_factory=list)
    traffic: list[TrafficSplit] = field(default_factory=list)

    def candidate_percent(self, function: str) -> int | None:
        """The declared candidate share of `function`, or None when it has no declared split."""
        return next((t.candidate_percent for t in self.traffic if t.function == function), None)


def _units(folder: str) -> list[str]:
    """Every sub-folder with a main.py is one deployable unit."""
    root = REPO_ROOT / folder
    return sorted(p.parent.name for p in root.glob("*/main.py") if not p.parent.name.startswith("_"))


def load(path: Path = DECLARATION_FILE, strict: bool = True) -> Declaration:
    """strict=False (the local stack while a feature is half-built) returns the problems as warnings
    instead of raising; Pulumi and the tests always load strictly."""
    raw = yaml.safe_load(path.read_text())
    topics = [Topic(t["name"], tuple(t.get("publishers", []))) for t in raw.get("topics", [])]
    buckets = [Bucket(b["name"], tuple(b.get("writers", [])), tuple(b.get("readers", [])), b.get("mount"))
               for b in raw.get("buckets", [])]
    secrets = [Secret(x, ()) if isinstance(x, str)
               else Secret(x["name"], tuple(x.get("readers", [])), bool(x.get("optional", False)))
               for x in raw.get("secrets", [])]
    decl = Declaration(
        topics=[t.name for t in topics],
        subscriptions=[Subscription(**{**s, "subscribers": tuple(s.get("subscribers", []))})
                       for s in raw.get("subscriptions", [])],
        queues=[Queue(**{**q, "enqueued_by": tuple(q.get("enqueued_by", []))}) for q in raw.get("queues", [])],
        buckets=[b.name for b in buckets],
        schedules=[Schedule(**s) for s in raw.get("schedules", [])],
        secrets=[x.name for x in secrets],
        functions=_units("functions"),
        jobs=_units("jobs"),
        topic_grants=topics,
        bucket_grants=buckets,
        secret_grants=secrets,
        traffic=traffic_splits(raw),
    )
    problems = problems_in(decl)
    if problems and strict:
        raise ValueError("resources.yaml is inconsistent:\n  " + "\n  ".join(problems))
    return decl


def traffic_splits(raw: dict) -> list[TrafficSplit]:
    return [TrafficSplit(t["function"], int(t["candidate_percent"])) for t in raw.get("traffic", []) or []]


def read_traffic(path: Path = DECLARATION_FILE) -> dict[str, int]:
    """{function: candidate percent} as the file says now (the local gateway re-reads it when it changes)."""
    return {t.function: t.candidate_percent for t in traffic_splits(yaml.safe_load(Path(path).read_text()))}


def problems_in(decl: Declaration) -> list[str]:
    """Catch wiring mistakes before any deploy: every reference must name something declared."""
    problems = []
    for sub in decl.subscriptions:
        if sub.topic not in decl.topics:
            problems.append(f"subscription {sub.name}: unknown topic {sub.topic}")
        if sub.dead_letter_topic and sub.dead_letter_topic not in decl.topics:
            problems.append(f"subscription {sub.name}: unknown dead-letter topic {sub.dead_letter_topic}")
        if sub.push_to and sub.push_to not in decl.functions:
            problems.append(f"subscription {sub.name}: pushes to missing function {sub.push_to}")
    for queue in decl.queues:
        if queue.target not in decl.functions:
            problems.append(f"queue {queue.name}: targets missing function {queue.target}")
    for sched in decl.schedules:
        if sched.job not in decl.jobs:
            problems.append(f"schedule {sched.name}: triggers missing job {sched.job}")
    units = set(decl.functions) | set(decl.jobs)
    grants = [(f"topic {t.name}", t.publishers) for t in decl.topic_grants]
    grants += [(f"subscription {s.name}", s.subscribers) for s in decl.subscriptions]
    grants += [(f"queue {q.name}", q.enqueued_by) for q in decl.queues]
    grants += [(f"bucket {b.name}", b.writers + b.readers) for b in decl.bucket_grants]
    grants += [(f"secret {x.name}", x.readers) for x in decl.secret_grants]
    for what, names in grants:
        problems += [f"{what}: grants access to unknown unit {n}" for n in names if n not in units]
    for split in decl.traffic:
        if split.function not in decl.functions:
            problems.append(f"traffic: splits missing function {split.function}")
        if not 0 <= split.candidate_percent <= 100:
            problems.append(f"traffic {split.function}: candidate_percent must be 0-100, not {split.candidate_percent}")
    if len({t.function for t in decl.traffic}) != len(decl.traffic):
        problems.append("traffic: a function is split twice")
    for bucket in decl.bucket_grants:
        if bucket.mount is not None and not bucket.mount.startswith("/"):
            problems.append(f"bucket {bucket.name}: mount must be an absolute path, not {bucket.mount!r}")
    return problems


# --- what each unit's code reaches ------------------------------------------------------------------
# Network access and store credentials follow the code: a unit is attached to the VPC for Redis, or allowed
# through the Qdrant firewall, only when its entry point imports that adapter (directly, or through any module
# of this repository, including imports inside functions). Derived, so it cannot drift from the code.

def unit_module(decl: Declaration, unit: str) -> str:
    return f"functions.{unit}.main" if unit in decl.functions else f"jobs.{unit}.main"


def _module_file(module: str) -> Path | None:
    base = REPO_ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports_of(path: Path) -> set[str]:
    """Modules of this repository a file imports (absolute imports; `from a import b` may name module a.b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if _module_file(m) is not None}


@lru_cache(maxsize=None)
def reachable_modules(module: str) -> frozenset[str]:
    """Every repository module `module` imports, transitively."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        path = _module_file(current)
        if current in seen or path is None:
            continue
        seen.add(current)
        todo.extend(_imports_of(path) - seen)
    return frozenset(seen)


def units_reaching(decl: Declaration, module: str) -> list[str]:
    """The functions and jobs whose code imports `module`. (A module run as a subprocess, such as admin's
    `python -m jobs.learn.main`, is not followed: its unit must reach what the subprocess needs by import too.)"""
    return [u for u in [*decl.functions, *decl.jobs] if module in reachable_modules(unit_module(decl, u))]

"""Load resources.yaml and discover the deployable units, for Pulumi and the local stack alike."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

PULUMI_DIR = Path(__file__).resolve().parent
REPO_ROOT = PULUMI_DIR.parent.parent
DECLARATION_FILE = PULUMI_DIR / "resources.yaml"
OPENAPI_FILE = PULUMI_DIR / "openapi.yaml"


@dataclass(frozen=True)
class Subscription:
    name: str
    topic: str
    push_to: str | None = None
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


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str
    job: str
    timezone: str = "Etc/UTC"


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


def _units(folder: str) -> list[str]:
    """Every sub-folder with a main.py is one deployable unit."""
    root = REPO_ROOT / folder
    return sorted(p.parent.name for p in root.glob("*/main.py") if not p.parent.name.startswith("_"))


def load(path: Path = DECLARATION_FILE, strict: bool = True) -> Declaration:
    """strict=False (the local stack while a feature is half-built) returns the problems as warnings
    instead of raising; Pulumi and the tests always load strictly."""
    raw = yaml.safe_load(path.read_text())
    decl = Declaration(
        topics=[t["name"] for t in raw.get("topics", [])],
        subscriptions=[Subscription(**s) for s in raw.get("subscriptions", [])],
        queues=[Queue(**q) for q in raw.get("queues", [])],
        buckets=[b["name"] for b in raw.get("buckets", [])],
        schedules=[Schedule(**s) for s in raw.get("schedules", [])],
        secrets=list(raw.get("secrets", [])),
        functions=_units("functions"),
        jobs=_units("jobs"),
    )
    problems = problems_in(decl)
    if problems and strict:
        raise ValueError("resources.yaml is inconsistent:\n  " + "\n  ".join(problems))
    return decl


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
    return problems

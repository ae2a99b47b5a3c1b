"""A guard on the shared event loop: every request of a function runs its coroutines on one loop
(shared.adapters.aio), so a synchronous Redis or Qdrant call inside a coroutine stalls every request in flight.
Coroutines in functions/ and shared/domains/ must use the async clients (get_async_redis, get_async_qdrant)."""
from __future__ import annotations

import ast
from pathlib import Path

from shared.settings import REPO_ROOT

BLOCKING = {"get_redis", "get_qdrant", "client_for"}
ROOTS = ("functions", "shared/domains")


def _blocking_calls_in_coroutines(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in BLOCKING:
                    found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} {fn.name}() calls {name}()")
    return found


def test_no_coroutine_on_a_request_path_opens_a_blocking_client():
    offenders = [hit for root in ROOTS for path in sorted((REPO_ROOT / root).rglob("*.py"))
                 for hit in _blocking_calls_in_coroutines(path)]
    # Seeding is long batch work: it runs on a loop of its own (aio.run_apart) and may use the sync clients.
    offenders = [o for o in offenders if "/catalogue/" not in o]
    assert offenders == [], "use get_async_redis()/get_async_qdrant() in coroutines:\n" + "\n".join(offenders)

"""The planner's structure, checked on the import graph itself: no module in trips/ imports back from its
caller (no cycle, including imports inside functions), and no domain module imports the HTTP layer."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
TRIPS = REPO / "shared" / "domains" / "travel" / "trips"
DOMAINS = REPO / "shared" / "domains"


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside a function."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def graph() -> dict[str, set[str]]:
    mods = {f"shared.domains.travel.trips.{p.stem}": p for p in TRIPS.glob("*.py") if p.stem != "__init__"}
    return {m: {i for i in imports_of(p) if i in mods and i != m} for m, p in mods.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(g[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (cycle := visit(m)):
                return cycle
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(g):
        if n not in state and (cycle := visit(n)):
            return cycle
    return None


def test_trips_has_no_import_cycle():
    assert find_cycle(graph()) is None, " -> ".join(find_cycle(graph()))


def test_the_checker_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_domains_never_import_the_api_layer():
    offenders = [str(p.relative_to(REPO)) for p in DOMAINS.rglob("*.py")
                 if any(i == "shared.api" or i.startswith("shared.api.") for i in imports_of(p))]
    assert offenders == []

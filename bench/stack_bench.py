"""Foundation benchmark: time for `up` to reach a healthy gateway (cold: fresh data dirs incl. initdb;
warm: data dirs reused), and each function module's import time in a fresh interpreter, against the
import of functions_framework alone measured in the same run.

Run: .venv/bin/python bench/stack_bench.py [--runs 3] [--imports 5]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO_ROOT, summarise, write_result

from emulators.stack import Stack
from infra.pulumi.declaration import load

IMPORT_SNIPPET = """
import importlib.util, sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
{body}
print(time.perf_counter() - t0)
"""


def time_import(body: str) -> float:
    code = IMPORT_SNIPPET.format(root=str(REPO_ROOT), body=body)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def function_import_body(name: str) -> str:
    path = REPO_ROOT / "functions" / name / "main.py"
    return (f"spec = importlib.util.spec_from_file_location('fn_{name}', {str(path)!r})\n"
            "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)")


def time_up(state_dir: Path) -> float:
    stack = Stack(state_dir=state_dir, dynamic_ports=True, scheduler=False, progress=lambda _m: None)
    t0 = time.perf_counter()
    try:
        stack.up()
        return time.perf_counter() - t0
    finally:
        stack.down(quiet=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--imports", type=int, default=5)
    args = parser.parse_args()

    functions = load(strict=False).functions
    imports = {}
    baseline = [time_import("import functions_framework") for _ in range(args.imports)]
    print(f"baseline import functions_framework: median {summarise(baseline)['median']:.3f}s")
    for name in functions:
        samples = [time_import(function_import_body(name)) for _ in range(args.imports)]
        imports[name] = summarise(samples)
        print(f"import functions/{name}: median {imports[name]['median']:.3f}s")

    cold, warm = [], []
    for i in range(args.runs):
        state = Path(tempfile.mkdtemp(prefix="concierge-bench-"))
        try:
            cold.append(time_up(state))
            warm.append(time_up(state))
        finally:
            shutil.rmtree(state, ignore_errors=True)
        print(f"run {i + 1}/{args.runs}: up cold {cold[-1]:.1f}s, warm {warm[-1]:.1f}s")

    base = summarise(baseline)["median"]
    write_result("stack_bench", {
        "up_to_healthy_s": {"cold": summarise(cold), "warm": summarise(warm), "target_s": 20},
        "function_import_s": imports,
        "baseline_import_functions_framework_s": summarise(baseline),
        "import_ratio_vs_baseline": {k: round(v["median"] / base, 2) for k, v in imports.items()},
        "import_target_s": 1.0,
        "functions": functions,
    })


if __name__ == "__main__":
    main()

"""A function's cold start must not pay for torch or sentence-transformers (nor pandas): importing
any functions/*/main.py in a fresh interpreter must leave them out of sys.modules."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infra.pulumi.declaration import REPO_ROOT, load

HEAVY = ("torch", "sentence_transformers", "transformers", "pandas", "sklearn")


@pytest.mark.parametrize("name", load(strict=False).functions)
def test_function_module_import_stays_light(name: str):
    path = REPO_ROOT / "functions" / name / "main.py"
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('fn', {str(path)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
        "assert callable(mod.handle)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []

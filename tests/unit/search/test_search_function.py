"""The search function's edge: bad query strings are 400s naming the field before any store is touched, and its
cold start imports none of the index machinery (faiss, onnxruntime, bm25s load on the first request)."""
from __future__ import annotations

import base64
import json
import subprocess
import sys

import flask
import pytest

from infra.pulumi.declaration import REPO_ROOT

app = flask.Flask(__name__)


def _call(path: str, query: str) -> flask.Response:
    from functions.search.main import handle

    headers = {"X-Apigateway-Api-Userinfo": base64.urlsafe_b64encode(b'{"sub": "u1"}').decode()}
    with app.test_request_context(path, method="GET", query_string=query, headers=headers):
        return handle(flask.request)


@pytest.mark.parametrize("path, query, field", [
    ("/v1/search", "q=a%00b", "q"),
    ("/v1/search", "q=" + "x" * 513, "q"),
    ("/v1/search", "q=x&k=-1", "k"),
    ("/v1/search", "q=x&k=1.5", "k"),
    ("/v1/search", "q=x&corpus=venues%3A", "corpus"),
    ("/v1/search", "q=x&corpus=venues%3AUPPER", "corpus"),
    ("/v1/search", "q=x&mode=%01", "mode"),
    ("/v1/cities/testville/venues:search", "q=", "q"),
    ("/v1/cities/testville/venues:search", "q=x&corpus=scifact", "corpus"),   # not a parameter of this route
    ("/v1/cities/a%01b/venues:search", "q=x", "city"),
])
def test_bad_query_strings_are_a_400_naming_the_field(path, query, field):
    resp = _call(path, query)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["field"] == field


@pytest.mark.parametrize("name", ["search", "search_warmup"])
def test_cold_start_leaves_the_index_machinery_unloaded(name):
    path = REPO_ROOT / "functions" / name / "main.py"
    heavy = ("faiss", "onnxruntime", "bm25s", "tokenizers", "torch")
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('fn', {str(path)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        f"print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []

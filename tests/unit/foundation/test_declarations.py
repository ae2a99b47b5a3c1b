"""The shared declarations are consistent, and the build pipeline only runs things that exist."""
from __future__ import annotations

import re
import shlex

import yaml

from infra.pulumi.declaration import REPO_ROOT, load
from infra.pulumi.openapi import backends_named, operations, render


def test_resources_yaml_references_only_declared_things():
    load(strict=True)  # raises naming every dangling topic, function or job


def test_every_gateway_route_targets_an_existing_function():
    decl = load()
    assert backends_named() <= set(decl.functions)
    document = render({name: f"https://{name}.example" for name in backends_named()}, "proj")
    assert document["swagger"] == "2.0"
    for method, path, op in operations(document):
        backend = op["x-google-backend"]
        assert backend["address"].startswith("https://"), (method, path)
        assert backend["path_translation"] == "APPEND_PATH_TO_ADDRESS", (method, path)


def test_health_is_public_and_user_routes_need_a_token():
    document = render({name: "https://x" for name in backends_named()}, "proj")
    by_path = {(m, p): op for m, p, op in operations(document)}
    assert "security" not in by_path[("GET", "/v1/health")]
    assert by_path[("POST", "/v1/trips")]["security"] == [{"firebase": [], "api_key": []}]  # the key: quotas


def _repo_paths_in(command: str) -> list[str]:
    """Tokens of a shell command that name files of this repository."""
    found = []
    for token in shlex.split(command.replace("&&", " ")):
        token = token.split("[")[0]
        if "$" in token or "://" in token or token.startswith("-"):
            continue
        if token.startswith(".venv"):
            continue  # made by `make install`, not part of the repository
        if re.match(r"^(\.{0,2}/)?[\w.-]+(/[\w.-]+)+/?$|^\.[\w/.-]+$|^[\w-]+\.(ya?ml|py|toml)$|^[A-Z]\w*file$", token):
            found.append(token)
    return found


def test_every_cloudbuild_step_runs_something_in_the_repo():
    build = yaml.safe_load((REPO_ROOT / "cloudbuild.yaml").read_text())
    ids = [step["id"] for step in build["steps"]]
    assert ids[:1] == ["test"] and {"build", "push", "deploy"} <= set(ids)
    checked = []
    for step in build["steps"]:
        base = REPO_ROOT / step.get("dir", "")
        for arg in step.get("args", []):
            for path in _repo_paths_in(str(arg)):
                target = (base / path).resolve()
                if path.startswith("python") or path.startswith("jobs."):
                    continue
                assert target.exists(), f"step {step['id']} uses {path}, which is not in the repository"
                checked.append(path)
        if step["id"] == "deploy":
            assert (base / "Pulumi.yaml").exists() and (base / "__main__.py").exists()
    for must in (".ci/run", "Dockerfile"):
        assert must in checked
    # The test step runs the README's test command through .ci/run.
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()

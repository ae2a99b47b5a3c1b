"""Render the OpenAPI document with concrete backend URLs.

The cloud (Pulumi, with Cloud Run URLs) and the local gateway (with local ports) call the same function,
so routing cannot drift between them.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from infra.pulumi.declaration import OPENAPI_FILE

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def raw_document() -> str:
    return OPENAPI_FILE.read_text()


def backends_named() -> set[str]:
    """Every function an operation routes to (the ${name} placeholders other than project)."""
    return {m for m in _PLACEHOLDER.findall(raw_document()) if m != "project"}


def render(function_urls: dict[str, str], project: str) -> dict[str, Any]:
    missing = backends_named() - set(function_urls)
    if missing:
        raise KeyError(f"openapi.yaml routes to functions with no URL: {sorted(missing)}")
    values = {**function_urls, "project": project}
    # only ${name} placeholders are substituted: a generated schema's regex may end in a bare "$"
    text = _PLACEHOLDER.sub(lambda m: values[m.group(1)], raw_document())
    return yaml.safe_load(text)


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) for every operation in the document."""
    out = []
    for path, item in document.get("paths", {}).items():
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                out.append((method.upper(), path, op))
    return out

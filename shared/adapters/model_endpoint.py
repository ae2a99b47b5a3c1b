"""Model endpoints: a Vertex AI endpoint in the cloud, the same prediction server as a local process.

Both speak {"instances": [...]} -> {"predictions": [...]}; only the URL and, for Vertex, the OAuth
credentials differ, and both come from construction, not from the caller.
"""
from __future__ import annotations

from typing import Any

import httpx


class EndpointError(RuntimeError):
    pass


def predict(endpoint_url: str, instances: list[dict[str, Any]], timeout_s: float = 2.0) -> list[dict[str, Any]]:
    """POST instances to `<endpoint_url>` (a Vertex `...:predict` URL or a local server's predict route)."""
    headers = {"Content-Type": "application/json"}
    if "aiplatform.googleapis.com" in endpoint_url:
        import google.auth
        import google.auth.transport.requests

        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        credentials.refresh(google.auth.transport.requests.Request())
        headers["Authorization"] = f"Bearer {credentials.token}"
    try:
        resp = httpx.post(endpoint_url, json={"instances": instances}, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise EndpointError(f"model endpoint unreachable: {exc}") from exc
    if resp.status_code != 200:
        raise EndpointError(f"model endpoint answered {resp.status_code}: {resp.text[:300]}")
    predictions = resp.json().get("predictions")
    if not isinstance(predictions, list) or len(predictions) != len(instances):
        raise EndpointError("model endpoint returned a malformed predictions list")
    return predictions

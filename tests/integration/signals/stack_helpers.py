"""Helpers for the tests (and the benchmark) that drive the signal path through the local stack's gateway."""
from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import httpx


def auth(user: str) -> dict[str, str]:
    """The local gateway takes the user id itself as the bearer token (see emulators/gateway.py)."""
    return {"Authorization": f"Bearer {user}"}


def event_id() -> str:
    return f"evt-{uuid.uuid4().hex}"


def signal(world, user_index: int = 0, node_index: int = 0, **over) -> dict[str, Any]:
    body = {"event_id": event_id(), "signal_type": "slot_accept", "activity_node_id": world.nodes[node_index],
            "trip_id": f"trip-{world.tag}-{user_index}",
            "context": {"time_to_action_ms": 1200, "day_of_trip": 1, "day_part": "morning", "group_size": 1}}
    body.update(over)
    return body


def post_signals(base_url: str, user: str | None, body: Any = None, *, content: bytes | None = None,
                 client: httpx.Client | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
    hdrs = {"Content-Type": "application/json", **(auth(user) if user else {}), **(headers or {})}
    data = content if content is not None else json.dumps(body).encode()
    if client is not None:
        return client.post(f"{base_url}/v1/signals", content=data, headers=hdrs)
    return httpx.post(f"{base_url}/v1/signals", content=data, headers=hdrs, timeout=60)


def userinfo(user: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"sub": user}).encode()).decode().rstrip("=")


def wait_for(check, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")

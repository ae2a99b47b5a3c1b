"""Pub/Sub publisher. The official client honours PUBSUB_EMULATOR_HOST by itself."""
from __future__ import annotations

import base64
import json
from concurrent.futures import Future
from functools import lru_cache
from typing import Any

from google.cloud import pubsub_v1

from shared.settings import get_settings


@lru_cache(maxsize=1)
def _publisher() -> pubsub_v1.PublisherClient:
    return pubsub_v1.PublisherClient()


def topic_path(topic: str) -> str:
    return _publisher().topic_path(get_settings().project, topic)


def publish_json(topic: str, payload: Any, **attributes: str) -> Future:
    """Publish without waiting; callers that must not lose the message call .result() on the future."""
    data = json.dumps(payload, separators=(",", ":"), default=str).encode()
    return _publisher().publish(topic_path(topic), data, **attributes)


def publish_bytes(topic: str, data: bytes, **attributes: str) -> Future:
    """Publish an already-encoded message unchanged (dead-lettering and replay keep the original bytes)."""
    return _publisher().publish(topic_path(topic), data, **attributes)


def decode_push(envelope: dict) -> tuple[Any, dict[str, str], str]:
    """Unwrap a push-subscription request body into (payload, attributes, message_id).

    Raises ValueError with the offending field named, so a consumer can answer 4xx-ish (ack) for poison
    messages rather than retrying them forever.
    """
    if not isinstance(envelope, dict) or not isinstance(envelope.get("message"), dict):
        raise ValueError("message: push body must be an object with a 'message' object")
    message = envelope["message"]
    raw = message.get("data", "")
    try:
        payload = json.loads(base64.b64decode(raw).decode() or "null")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"message.data: not base64-encoded JSON ({exc.__class__.__name__})") from None
    return payload, dict(message.get("attributes") or {}), str(message.get("messageId") or message.get("message_id") or "")


def ping() -> None:
    from google.api_core import exceptions

    try:
        # one attempt: the client's default retry on UNAVAILABLE would outlast every health deadline
        _publisher().get_topic(request={"topic": topic_path("health-probe")}, timeout=3, retry=None)
    except exceptions.NotFound:
        pass  # the service answered; the probe topic need not exist

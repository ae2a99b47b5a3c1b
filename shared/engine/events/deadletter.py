"""Bounded attempts and the dead-letter topic for signal messages.

Pub/Sub's own dead-letter policy (declared in resources.yaml, honoured by the cloud and, as checked, by the
emulator in the gcloud SDK) moves a message after `max_delivery_attempts` failed pushes. The sink also counts
attempts itself, per message id in Redis, for poison messages: at the last attempt it publishes the original
message with the reason attached and acks. That makes the outcome independent of the delivery count being
available (push bodies carry no `deliveryAttempt` in the emulator), keeps the reason next to the message,
and never double-dead-letters: the sink acks exactly at the attempt where Pub/Sub would otherwise move it.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from shared.settings import REPO_ROOT

log = logging.getLogger("concierge.signals.deadletter")

SIGNALS_TOPIC = "signals"
CANDIDATE_SETS_TOPIC = "candidate-sets"
DEAD_LETTER_TOPIC = "signals-dead-letter"
DEAD_LETTER_HOLD = "signals-dead-letter-hold"
DEFAULT_MAX_ATTEMPTS = 5
ATTEMPTS_TTL_S = 7 * 24 * 3600  # as long as Pub/Sub retains an unacked message

# Attributes we add when dead-lettering; Pub/Sub adds its own CloudPubSubDeadLetter* ones.
ATTR_REASON = "dead_letter_reason"
ATTR_ERROR = "dead_letter_error"
ATTR_SOURCE_SUBSCRIPTION = "dead_letter_source_subscription"
ATTR_SOURCE_MESSAGE_ID = "dead_letter_source_message_id"
ATTR_ATTEMPTS = "dead_letter_attempts"
NATIVE_SOURCE_SUBSCRIPTION = "CloudPubSubDeadLetterSourceSubscription"
NATIVE_PREFIX = "CloudPubSubDeadLetter"
ATTR_REPLAYED_FROM = "replayed_from_dead_letter"

DECLARATION = REPO_ROOT / "infra" / "pulumi" / "resources.yaml"


@lru_cache(maxsize=1)
def _subscriptions() -> dict[str, dict[str, Any]]:
    """The declared subscriptions, read from the declaration file that Pulumi and the local stack also read."""
    import yaml

    try:
        raw = yaml.safe_load(DECLARATION.read_text())
    except OSError:
        log.warning("resources.yaml not found at %s; using %d delivery attempts", DECLARATION, DEFAULT_MAX_ATTEMPTS)
        return {}
    return {s["name"]: s for s in raw.get("subscriptions", [])}


def short_name(subscription: str) -> str:
    """projects/p/subscriptions/name -> name (push bodies carry the full path)."""
    return subscription.rsplit("/", 1)[-1]


def max_delivery_attempts(subscription: str) -> int:
    sub = _subscriptions().get(short_name(subscription), {})
    return int(sub.get("max_delivery_attempts") or DEFAULT_MAX_ATTEMPTS)


def source_topic(subscription: str) -> str | None:
    sub = _subscriptions().get(short_name(subscription))
    return sub["topic"] if sub else None


def count_attempt(redis, subscription: str, message_id: str) -> int:
    """This delivery's number (1 for the first) for one message on one subscription."""
    key = f"signal_sink:attempts:{short_name(subscription)}:{message_id}"
    pipe = redis.pipeline()
    pipe.incr(key)
    pipe.expire(key, ATTEMPTS_TTL_S)
    count, _ = pipe.execute()
    return int(count)


def clear_attempts(redis, subscription: str, message_id: str) -> None:
    redis.delete(f"signal_sink:attempts:{short_name(subscription)}:{message_id}")


def dead_letter_attributes(
    attributes: dict[str, str], *, reason: str, error: str, subscription: str, message_id: str, attempts: int
) -> dict[str, str]:
    out = {k: str(v) for k, v in attributes.items()}
    out.update({
        ATTR_REASON: reason,
        ATTR_ERROR: error[:1000],
        ATTR_SOURCE_SUBSCRIPTION: short_name(subscription),
        ATTR_SOURCE_MESSAGE_ID: message_id,
        ATTR_ATTEMPTS: str(attempts),
    })
    return out


def replay_attributes(attributes: dict[str, str], dead_letter_message_id: str) -> dict[str, str]:
    """The original attributes, without the dead-letter bookkeeping, marked as a replay."""
    out = {k: v for k, v in attributes.items()
           if not k.startswith("dead_letter_") and not k.startswith(NATIVE_PREFIX)}
    out[ATTR_REPLAYED_FROM] = dead_letter_message_id
    return out


def origin_subscription(attributes: dict[str, str]) -> str | None:
    return attributes.get(ATTR_SOURCE_SUBSCRIPTION) or attributes.get(NATIVE_SOURCE_SUBSCRIPTION)


def publish_raw(topic: str, data: bytes, attributes: dict[str, str], timeout: float = 30.0) -> str:
    """Publish bytes as they are (a poison message may not be JSON) and wait for the server's ack."""
    from shared.adapters import pubsub

    return pubsub.publish_bytes(topic, data, **attributes).result(timeout=timeout)

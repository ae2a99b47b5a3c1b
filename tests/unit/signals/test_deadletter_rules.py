"""Dead-letter bookkeeping read from the one declaration, and replay restoring the original attributes."""
from __future__ import annotations

from shared.engine.events import deadletter


def test_limits_and_topics_come_from_resources_yaml():
    assert deadletter.max_delivery_attempts("projects/p/subscriptions/signals-to-sink") == 5
    assert deadletter.max_delivery_attempts("candidate-sets-to-sink") == 5
    assert deadletter.source_topic("projects/p/subscriptions/signals-to-sink") == "signals"
    assert deadletter.source_topic("candidate-sets-to-sink") == "candidate-sets"
    assert deadletter.source_topic("nope") is None


def test_dead_letter_then_replay_round_trips_the_attributes():
    original = {"event_id": "e1", "signal_type": "slot_view"}
    dead = deadletter.dead_letter_attributes(original, reason="schema_invalid", error="x" * 5000,
                                             subscription="projects/p/subscriptions/signals-to-sink",
                                             message_id="42", attempts=5)
    assert dead[deadletter.ATTR_SOURCE_SUBSCRIPTION] == "signals-to-sink"
    assert len(dead[deadletter.ATTR_ERROR]) == 1000
    assert deadletter.origin_subscription(dead) == "signals-to-sink"
    native = {**original, "CloudPubSubDeadLetterSourceSubscription": "candidate-sets-to-sink",
              "CloudPubSubDeadLetterSourceDeliveryCount": "5"}
    assert deadletter.origin_subscription(native) == "candidate-sets-to-sink"
    for attrs in (dead, native):
        assert deadletter.replay_attributes(attrs, "99") == {**original, deadletter.ATTR_REPLAYED_FROM: "99"}

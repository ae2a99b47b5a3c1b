"""Behavioural signals: the one schema, the cold/warm boundary, weights, the idempotent sink insert,
anonymisation and the training export.

Light to import (pydantic only): functions import this package on their request path.
"""
from shared.engine.events.schema import (
    COUNTED_TYPES,
    ITEM_TYPES,
    POSITIVE_TYPES,
    SIGNAL_TYPES,
    WARM_THRESHOLD,
    is_warm,
)
from shared.engine.events.weights import BACKFILL_WEIGHT, IN_APP_WEIGHT, weight_for

__all__ = [
    "BACKFILL_WEIGHT",
    "COUNTED_TYPES",
    "IN_APP_WEIGHT",
    "ITEM_TYPES",
    "POSITIVE_TYPES",
    "SIGNAL_TYPES",
    "WARM_THRESHOLD",
    "is_warm",
    "weight_for",
]

"""Signal weights: what a user did in the app is worth more than what we inferred for them afterwards.

The weight is assigned by the server from the signal's source, never taken from the client, so a client
cannot make its own signals count more.
"""
from __future__ import annotations

from typing import Literal

IN_APP_WEIGHT = 1.0
BACKFILL_WEIGHT = 0.3

Source = Literal["in_app", "backfill"]

_WEIGHTS: dict[str, float] = {"in_app": IN_APP_WEIGHT, "backfill": BACKFILL_WEIGHT}


def weight_for(source: str) -> float:
    try:
        return _WEIGHTS[source]
    except KeyError:
        raise ValueError(f"unknown signal source {source!r}; expected one of {sorted(_WEIGHTS)}") from None

"""Experiment arms: which users an experiment holds out of a treatment.

The one experiment today is the ML holdout (settings.ml_holdout_share): that share of users, chosen by a stable
hash of the user id, is never served by an ML ranker even when warm and when a production model exists. It is
the control arm that shows what the learning loop is worth (bench/learning_loop.py). At the default share 0
nobody is held out. A held-out response says so (fallback_reason), like every other fallback.
"""
from __future__ import annotations

import hashlib

ML_HOLDOUT = "ml_holdout"


def in_arm(experiment: str, unit_id: str, share: float) -> bool:
    """Whether `unit_id` falls in the `share` of units the experiment assigns to its arm; stable per unit."""
    if share <= 0:
        return False
    digest = hashlib.blake2b(f"{experiment}|{unit_id}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") / 2**32 < share


def held_out_of_ml(user_id: str) -> bool:
    from shared.settings import get_settings

    return in_arm(ML_HOLDOUT, user_id, get_settings().ml_holdout_share)

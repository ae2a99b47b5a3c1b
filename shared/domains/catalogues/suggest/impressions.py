"""Impression ids: one per suggested item, minted by /v1/suggest and signed, so /v1/events can refuse a click for an
impression it never issued with a 400 at once, instead of only dead-lettering it later.

    <16 hex: the list's id><16 hex: random>-<arm>-<20 hex: HMAC-SHA256(key, "<both>-<arm>")>

The arm and the list (the first 16 hex, shared by every item of one answer) ride along so the events function can
count clicks per arm and accepted lists without a lookup. The signature is a
synchronous check only: the sink stores a click only when its impression row is stored (the authority), so a
forged id with a leaked or default key still counts nothing. The key is SUGGEST_IMPRESSION_KEY (a secret in the
cloud); without it a fixed development key is used and said so in the log.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import uuid
from functools import lru_cache

log = logging.getLogger("concierge.suggest")
DEV_KEY = "concierge-local-impression-key"
_ID = re.compile(r"^([0-9a-f]{32})-([A-Za-z0-9_]{1,40})-([0-9a-f]{20})$")


@lru_cache(maxsize=1)
def _key() -> bytes:
    key = os.environ.get("SUGGEST_IMPRESSION_KEY")
    if not key:
        log.warning("SUGGEST_IMPRESSION_KEY is not set: impression ids are signed with the development key")
        key = DEV_KEY
    return key.encode()


def _sign(body: str) -> str:
    return hmac.new(_key(), body.encode(), hashlib.sha256).hexdigest()[:20]


def new_list_id() -> str:
    return uuid.uuid4().hex[:16]


def new_impression_id(arm: str, list_id: str | None = None) -> str:
    body = f"{list_id or new_list_id()}{uuid.uuid4().hex[:16]}-{arm}"
    return f"{body}-{_sign(body)}"


def list_of(impression_id: str) -> str:
    """The list (suggest answer) an impression id belongs to."""
    return impression_id[:16]


def verify(impression_id: str) -> str | None:
    """The arm of an impression id this service issued; None for anything else."""
    m = _ID.match(impression_id or "")
    if not m:
        return None
    body = f"{m.group(1)}-{m.group(2)}"
    return m.group(2) if hmac.compare_digest(_sign(body), m.group(3)) else None

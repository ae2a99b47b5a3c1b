"""Pseudonyms: stable under one salt, different under another, never reversible to the id, kinds kept apart."""
from __future__ import annotations

import pytest

from shared.engine.events.anonymise import PseudonymSaltMissing, anonymise_fields, load_salt, pseudonym


def test_pseudonyms_are_stable_keyed_and_kind_separated():
    a = pseudonym("u", "alice", b"salt-1")
    assert a == pseudonym("u", "alice", b"salt-1")
    assert a.startswith("anon-u-") and "alice" not in a and len(a) == len("anon-u-") + 32
    assert a != pseudonym("u", "alice", b"salt-2")
    assert a != pseudonym("u", "bob", b"salt-1")
    assert pseudonym("t", "alice", b"salt-1")[len("anon-t-"):] != a[len("anon-u-"):]


def test_pseudonymising_twice_changes_nothing():
    once = pseudonym("e", "evt-1", b"s")
    assert pseudonym("e", once, b"s") == once


def test_anonymise_fields_rekeys_every_link_and_drops_row_pointers():
    record = {"event_id": "evt-1", "user_id": "alice", "trip_id": "trip-9",
              "context": {"slot_id": "slot-3", "pivot_id": "p-1", "candidate_set_event_id": "gen-1",
                          "time_to_action_ms": 10, "candidates": [{"id": "n1"}]}}
    out = anonymise_fields(record, b"s")
    assert out["user_id"] == pseudonym("u", "alice", b"s")
    assert out["event_id"] == pseudonym("e", "evt-1", b"s")
    assert out["trip_id"] == pseudonym("t", "trip-9", b"s")
    assert out["context"] == {"candidate_set_event_id": pseudonym("e", "gen-1", b"s"), "time_to_action_ms": 10,
                              "candidates": [{"id": "n1"}]}
    assert record["user_id"] == "alice"  # the input is not modified


def test_no_salt_no_anonymisation(monkeypatch):
    monkeypatch.delenv("SIGNAL_PSEUDONYM_SALT", raising=False)
    monkeypatch.delenv("K_SERVICE", raising=False)
    monkeypatch.delenv("CLOUD_RUN_JOB", raising=False)
    with pytest.raises(PseudonymSaltMissing):
        load_salt()
    monkeypatch.setenv("SIGNAL_PSEUDONYM_SALT", "abc")
    assert load_salt() == b"abc"

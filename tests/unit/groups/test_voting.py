"""Approval voting with a deadline: the status machine, who may vote when, the tie rule and the empty vote."""
from __future__ import annotations

import datetime as dt

import pytest

from shared.domains.errors import Conflict, InvalidRequest
from shared.domains.groups.spectrum import LABELS, Option
from shared.domains.groups.voting import NO_VOTES_REASON, Poll, Status

UTC = dt.timezone.utc
DEADLINE = dt.datetime(2031, 6, 1, 20, 0, tzinfo=UTC)
BEFORE = DEADLINE - dt.timedelta(hours=1)
MEMBERS = ("ana", "ben", "cara", "dev")


def option(rank: int, least: float) -> Option:
    """An option whose least satisfied member has satisfaction `least` (the others are happier)."""
    return Option(rank=rank, label=LABELS[rank], stops=(), cost_per_person=0.0, novelty=rank / 4, group_score=0.5,
                  aggregation="least_misery",
                  satisfaction={"ana": least, "ben": 0.9, "cara": 0.95, "dev": 1.0}, explanations={})


def poll(least=(0.5, 0.5, 0.5, 0.5, 0.5)) -> Poll:
    return Poll.propose("g1-2031-06", [option(i, s) for i, s in enumerate(least)], MEMBERS, DEADLINE).open()


def test_the_life_of_a_vote_and_illegal_steps():
    p = Poll.propose("g1-2031-06", [option(i, 0.5) for i in range(5)], MEMBERS, DEADLINE)
    assert p.status is Status.PROPOSED
    with pytest.raises(Conflict) as err:
        p.close(DEADLINE)                         # proposed -> closed skips voting
    assert err.value.field == "status" and err.value.code == "illegal_transition"
    with pytest.raises(Conflict):
        p.vote("ana", {0}, BEFORE)                # not open yet
    p = p.open().vote("ana", {1}, BEFORE).close(DEADLINE)
    assert (p.status, p.winner) == (Status.CLOSED, 1)
    with pytest.raises(Conflict):
        p.open()
    with pytest.raises(Conflict):
        p.mark_reviewed()                          # closed -> reviewed skips happened
    p = p.mark_happened().mark_reviewed()
    assert p.status is Status.REVIEWED
    with pytest.raises(Conflict):
        p.mark_happened()


def test_a_vote_after_the_deadline_is_refused():
    p = poll()
    assert p.vote("ana", {0}, DEADLINE).ballots["ana"] == frozenset({0})       # at the deadline still counts
    with pytest.raises(Conflict) as err:
        p.vote("ana", {0}, DEADLINE + dt.timedelta(seconds=1))
    assert err.value.field == "deadline" and err.value.code == "deadline_passed"


def test_only_members_vote_and_only_for_real_options():
    with pytest.raises(InvalidRequest) as err:
        poll().vote("mallory", {0}, BEFORE)
    assert err.value.field == "user_id" and err.value.code == "not_a_member"
    with pytest.raises(InvalidRequest) as err:
        poll().vote("ana", {5}, BEFORE)
    assert err.value.field == "vote"


def test_most_approvals_win_and_the_last_ballot_counts():
    p = poll().vote("ana", {3}, BEFORE).vote("ben", {3, 4}, BEFORE).vote("cara", {4}, BEFORE)
    p = p.vote("ana", {4}, BEFORE)                 # ana changes her mind
    closed = p.close(DEADLINE)
    assert closed.tally() == (0, 0, 0, 1, 3) and closed.winner == 4
    assert "3 of 4" in closed.reason


def test_a_tie_goes_to_the_fairer_option_then_to_the_safer():
    # options 1 and 3 tie at two approvals; option 3 leaves its least satisfied member better off
    p = poll(least=(0.5, 0.2, 0.5, 0.6, 0.5)).vote("ana", {1, 3}, BEFORE).vote("ben", {1, 3}, BEFORE)
    closed = p.close(DEADLINE)
    assert closed.winner == 3 and "least satisfied" in closed.reason
    # equally fair: the safer (lower) option wins
    p = poll(least=(0.5, 0.6, 0.5, 0.6, 0.5)).vote("ana", {1, 3}, BEFORE).vote("ben", {3, 1}, BEFORE)
    closed = p.close(DEADLINE)
    assert closed.winner == 1 and "safer" in closed.reason


def test_no_shows_approve_nothing():
    # only ana votes; the three who did not vote add nothing to any option
    closed = poll().vote("ana", {2}, BEFORE).close(DEADLINE)
    assert closed.tally() == (0, 0, 1, 0, 0) and closed.winner == 2


def test_nobody_votes_and_the_safe_option_closes_the_plan():
    closed = poll(least=(0.1, 0.9, 0.9, 0.9, 0.9)).close(DEADLINE)
    assert (closed.winner, closed.reason) == (0, NO_VOTES_REASON)


def test_closing_early_needs_every_ballot():
    p = poll().vote("ana", {1}, BEFORE)
    with pytest.raises(Conflict) as err:
        p.close(BEFORE)
    assert err.value.field == "deadline"
    for uid in MEMBERS[1:]:
        p = p.vote(uid, {1}, BEFORE)
    assert p.close(BEFORE).winner == 1


def test_a_deadline_without_a_time_zone_is_refused():
    with pytest.raises(InvalidRequest) as err:
        Poll.propose("c", [option(0, 0.5)], MEMBERS, dt.datetime(2031, 6, 1, 20, 0))
    assert err.value.field == "deadline"

"""The group picks one of the five options by approval voting before a deadline.

Why approval voting: each member ticks every option they would happily go to, and the most approved wins. It is
the simplest ballot to explain and to cast on a phone, it never punishes an honest vote for a second favourite
(no spoiler effect, unlike plurality), and with five to ten voters it rarely ties and needs no runoff round.

The life of an outing's vote is a status machine, and any other step is a Conflict:
    proposed → voting → closed → happened → reviewed

Rules:
- only members vote, only while voting and at or before the deadline; a member may vote again until the
  deadline, the last ballot counts;
- a member who does not vote approves nothing (a no-show cannot block or carry an option);
- the poll closes at the deadline, or earlier once every member has voted;
- a tie on approvals goes to the option whose least satisfied member is best off (the spectrum's predicted
  satisfaction: fairness before taste), then to the safer option (the lower rank: when the group is split,
  the known-good plan is the one fewer people regret);
- if nobody votes, the safe option (index 0) wins: "no votes: the safe option closes the plan"; likewise when
  every ballot approves nothing ("no approvals: ...").

Polls are immutable: each step returns a new Poll, so the caller stores exactly the state it validated.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from shared.domains.errors import Conflict, InvalidRequest
from shared.domains.groups.spectrum import Option

NO_VOTES_REASON = "no votes: the safe option closes the plan"
NO_APPROVALS_REASON = "no approvals: the safe option closes the plan"


class Status(str, Enum):
    PROPOSED = "proposed"
    VOTING = "voting"
    CLOSED = "closed"
    HAPPENED = "happened"
    REVIEWED = "reviewed"


NEXT = {Status.PROPOSED: Status.VOTING, Status.VOTING: Status.CLOSED, Status.CLOSED: Status.HAPPENED,
        Status.HAPPENED: Status.REVIEWED}


@dataclass(frozen=True)
class Poll:
    cycle_id: str
    members: tuple[str, ...]
    deadline: dt.datetime
    least_satisfied: tuple[float, ...]     # per option, safe first: its least satisfied member's satisfaction
    status: Status = Status.PROPOSED
    ballots: Mapping[str, frozenset[int]] = field(default_factory=dict)
    winner: int | None = None
    reason: str | None = None

    @classmethod
    def propose(cls, cycle_id: str, options: Sequence[Option], members: Iterable[str],
                deadline: dt.datetime) -> "Poll":
        if deadline.tzinfo is None:
            raise InvalidRequest("the deadline needs a time zone", "deadline")
        if not options:
            raise InvalidRequest("a vote needs options", "options")
        ids = tuple(members)
        if not ids or len(set(ids)) != len(ids):
            raise InvalidRequest("a vote needs distinct members", "members")
        return cls(cycle_id, ids, deadline, tuple(o.least_satisfaction for o in options))

    def _to(self, status: Status, **changes) -> "Poll":
        if NEXT.get(self.status) is not status:
            raise Conflict(f"an outing that is {self.status.value} cannot become {status.value}", "status",
                           code="illegal_transition")
        return replace(self, status=status, **changes)

    def open(self) -> "Poll":
        return self._to(Status.VOTING)

    def vote(self, user_id: str, approve: Iterable[int], at: dt.datetime) -> "Poll":
        """The member's ballot: the indices of every option they approve (none is a valid ballot)."""
        if self.status is not Status.VOTING:
            raise Conflict(f"the vote is {self.status.value}, not open", "status", code="not_voting")
        if user_id not in self.members:
            raise InvalidRequest(f"{user_id} is not a member of this group", "user_id", code="not_a_member")
        if at > self.deadline:
            raise Conflict(f"voting closed at {self.deadline.isoformat()}", "deadline", code="deadline_passed")
        chosen = frozenset(approve)
        bad = [i for i in sorted(chosen, key=repr) if not (isinstance(i, int) and 0 <= i < len(self.least_satisfied))]
        if bad:
            raise InvalidRequest(f"no option {bad[0]!r}; options are 0 to {len(self.least_satisfied) - 1}", "vote")
        return replace(self, ballots={**self.ballots, user_id: chosen})

    def tally(self) -> tuple[int, ...]:
        return tuple(sum(i in b for b in self.ballots.values()) for i in range(len(self.least_satisfied)))

    def close(self, at: dt.datetime) -> "Poll":
        """The closed poll, with `winner` (an option index) and `reason` set."""
        if self.status is Status.VOTING and at < self.deadline and set(self.ballots) != set(self.members):
            raise Conflict(f"voting is open until {self.deadline.isoformat()} and not everyone has voted",
                           "deadline", code="voting_open")
        winner, reason = self._decide()
        return self._to(Status.CLOSED, winner=winner, reason=reason)

    def _decide(self) -> tuple[int, str]:
        if not self.ballots:
            return 0, NO_VOTES_REASON
        counts = self.tally()
        top = max(counts)
        if top == 0:
            return 0, NO_APPROVALS_REASON
        tied = [i for i, c in enumerate(counts) if c == top]
        voters = len(self.members)
        if len(tied) == 1:
            return tied[0], f"option {tied[0]} has the most approvals ({top} of {voters} members)"
        fairest = max(self.least_satisfied[i] for i in tied)
        fair = [i for i in tied if self.least_satisfied[i] == fairest]
        names = ", ".join(map(str, tied))
        if len(fair) == 1:
            return fair[0], (f"options {names} tie at {top} approvals; option {fair[0]} leaves its least "
                             f"satisfied member best off ({fairest:.2f})")
        return fair[0], (f"options {names} tie at {top} approvals and leave the least satisfied member equally well "
                         f"off; the safer option {fair[0]} wins")

    def mark_happened(self) -> "Poll":
        return self._to(Status.HAPPENED)

    def mark_reviewed(self) -> "Poll":
        return self._to(Status.REVIEWED)

"""The group planner with Claude choosing the tools: which window to plan, when to plan the options, whether to
check the carpools, and when it is done.

Why tools and not free text: the five options, their constraints and their explanations must stay checkable
(spectrum.check_option), so the model never writes a plan. It picks among the windows the calendars allow
(find_windows), asks for the five options of one (plan_options: the deterministic spectrum), may check how the
group would get there (plan_carpools), and finishes with the window it chose and one sentence for the group
(finish). Every tool input is validated; a bad one is answered as an error result naming the field, so the model
can correct itself; a reply that calls no tool is asked again. Each decision of the model is a step: it succeeds
when a tool call executes within REPAIRS retries. Transport failures are retried by the client. A conversation
that does not finish within MAX_TURNS, fails a step, or whose client call fails, raises AssistantFailed and the
caller serves the deterministic planner, saying so.

Everything the tools need is loaded before the conversation (members, busy time, venues), so a turn never
waits on the database, and the same inputs give the deterministic planner's options for the chosen window.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.domains.groups.availability import MemberBusy, common_windows
from shared.domains.groups.carpools import plan_carpools
from shared.domains.groups.spectrum import GroupHistory, Member, NotEnoughOptions, Option, OutingWindow, spectrum

MAX_TURNS = 10
REPAIRS = 2          # a step (one decision of the model) may fail this many times in a row before the plan fails
SERVED_BY = "group_planner:llm_tools"
SYSTEM = ("You plan a monthly outing for a group of friends. Use the tools: find when enough of them are free, "
          "plan the five options for the window you judge best for this group (most people, a sociable time), "
          "optionally check the carpools of an option, then finish. Never invent venues or times: only the tools "
          "know them.")


class AssistantFailed(Exception):
    """The conversation did not end with a plan; the message says why (for the cycle's served_by note) and
    `calls` holds the tool calls made until then."""

    def __init__(self, message: str, calls: list | None = None):
        super().__init__(message)
        self.calls = list(calls or [])


@dataclass(frozen=True)
class PlanningInputs:
    members: list[Member]
    busy: list[MemberBusy]
    venues: list
    tz: ZoneInfo
    history: GroupHistory
    aggregation: str
    quorum: int
    outing_minutes: int
    now: dt.datetime
    search_weeks: int = 4


@dataclass
class ToolCall:
    name: str
    ok: bool
    error: str | None = None


def steps(calls: list[ToolCall]) -> list[bool]:
    """The model's decisions, from its tool calls in order: each ends with a call that executed (True), or is cut
    off after more than REPAIRS failed attempts (False); a trailing run of failures is a failed step."""
    out, failed = [], 0
    for c in calls:
        if c.ok:
            out.append(True)
            failed = 0
        else:
            failed += 1
            if failed > REPAIRS:
                out.append(False)
                failed = 0
    if failed:
        out.append(False)
    return out


def _streak(calls: list[ToolCall]) -> int:
    """How many of the last calls failed in a row."""
    n = 0
    for c in reversed(calls):
        if c.ok:
            break
        n += 1
    return n


@dataclass
class AssistedPlan:
    window_start: dt.datetime
    attendees: list[str]
    options: list[Option]
    message: str
    calls: list[ToolCall] = field(default_factory=list)


class _FindWindows(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weeks: int = Field(default=4, ge=1, le=8)


class _PlanOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window_start: dt.datetime


class _PlanCarpools(BaseModel):
    model_config = ConfigDict(extra="forbid")
    option: int = Field(ge=0, le=4)


class _Finish(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window_start: dt.datetime
    message: str = Field(min_length=1, max_length=400)


_INPUTS = {"find_windows": _FindWindows, "plan_options": _PlanOptions, "plan_carpools": _PlanCarpools,
           "finish": _Finish}
TOOLS = [
    {"name": "find_windows", "description": "The best windows in the coming weeks where a quorum is free.",
     "input_schema": _FindWindows.model_json_schema()},
    {"name": "plan_options", "description": "The five options, safe to adventurous, for a window from find_windows.",
     "input_schema": _PlanOptions.model_json_schema()},
    {"name": "plan_carpools", "description": "Who drives whom for one of the planned options (0-4).",
     "input_schema": _PlanCarpools.model_json_schema()},
    {"name": "finish", "description": "Done: the planned window and one sentence for the group.",
     "input_schema": _Finish.model_json_schema()},
]


class _Session:
    """The tools' state over one conversation: the windows offered and the options planned per window."""

    def __init__(self, inputs: PlanningInputs):
        self.inputs = inputs
        self.windows: dict[dt.datetime, list[str]] = {}
        self.planned: dict[dt.datetime, list[Option]] = {}
        self.finished: tuple[dt.datetime, str] | None = None

    def run(self, name: str, raw: dict) -> dict:
        """The tool's result; ValueError (with the field) when the call cannot be served."""
        if name not in _INPUTS:
            raise ValueError(f"no tool {name!r}; the tools are {', '.join(_INPUTS)}")
        try:
            args = _INPUTS[name].model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ValueError(f"{'.'.join(map(str, first['loc'])) or 'input'}: {first['msg']}") from None
        return getattr(self, name)(args)

    def find_windows(self, args: _FindWindows) -> dict:
        i = self.inputs
        found = common_windows(i.busy, i.now, i.now + dt.timedelta(weeks=args.weeks),
                               dt.timedelta(minutes=i.outing_minutes), min(i.quorum, len(i.busy)), limit=5)
        for w in found:
            self.windows[w.start] = list(w.attendees)
        return {"windows": [{"start": w.start.isoformat(), "local": f"{w.start.astimezone(i.tz):%a %d %b %H:%M}",
                             "attendees": len(w.attendees), "of": len(i.members), "score": round(w.score, 3)}
                            for w in found]}

    def _window(self, start: dt.datetime, field_name: str) -> dt.datetime:
        start = start if start.tzinfo else start.replace(tzinfo=dt.timezone.utc)
        for known in self.windows:
            if known == start:
                return known
        raise ValueError(f"{field_name}: not one of the windows find_windows returned")

    def plan_options(self, args: _PlanOptions) -> dict:
        i = self.inputs
        start = self._window(args.window_start, "window_start")
        coming = [m for m in i.members if m.user_id in self.windows[start]]
        end = start + dt.timedelta(minutes=i.outing_minutes)
        try:
            options = spectrum(i.venues, coming, OutingWindow(start, end, i.tz), i.history, i.aggregation)
        except NotEnoughOptions as exc:
            raise ValueError(f"window_start: {exc.message}") from None
        self.planned[start] = options
        return {"options": [{"rank": o.rank, "label": o.label, "stops": [s.name for s in o.stops],
                             "cost_per_person": o.cost_per_person,
                             "least_satisfied": round(o.least_satisfaction, 3)} for o in options]}

    def plan_carpools(self, args: _PlanCarpools) -> dict:
        if not self.planned:
            raise ValueError("option: plan the options of a window first (plan_options)")
        start = list(self.planned)[-1]
        option = self.planned[start][args.option]
        coming = [m for m in self.inputs.members if m.user_id in self.windows[start] and m.home is not None]
        if not coming:
            return {"lines": {}, "note": "nobody has a home location"}
        first = option.stops[0]
        plan = plan_carpools(coming, (first.lat, first.lon), first.start)
        return {"lines": {m.display_name: plan.line_for(m.user_id) for m in coming}}

    def finish(self, args: _Finish) -> dict:
        start = self._window(args.window_start, "window_start")
        if start not in self.planned:
            raise ValueError("window_start: plan its options (plan_options) before finishing")
        self.finished = (start, args.message)
        return {"ok": True}


def _block_dict(b) -> dict:
    if b.type == "tool_use":
        return {"type": "tool_use", "id": b.id, "name": b.name, "input": b.input}
    return {"type": "text", "text": getattr(b, "text", "")}


def plan_with_tools(inputs: PlanningInputs, client) -> AssistedPlan:
    """Run the conversation. Raises AssistantFailed when it ends without a finished plan."""
    from shared.adapters.anthropic_client import AnthropicCallFailed

    session, calls = _Session(inputs), []
    messages: list[dict] = [{"role": "user", "content": (
        f"The group has {len(inputs.members)} members; at least {inputs.quorum} must come; the outing lasts "
        f"{inputs.outing_minutes} minutes. Plan this month's outing.")}]
    for _turn in range(MAX_TURNS):
        try:
            reply, _usage = client.converse(system=SYSTEM, messages=messages, tools=TOOLS)
        except AnthropicCallFailed as exc:
            raise AssistantFailed(f"the model could not be reached: {exc}", calls) from None
        uses = [b for b in reply.content if getattr(b, "type", None) == "tool_use"]
        messages.append({"role": "assistant", "content": [_block_dict(b) for b in reply.content] or
                         [{"type": "text", "text": "(no reply)"}]})
        if not uses:
            calls.append(ToolCall("(none)", False, "the reply called no tool"))
            if _streak(calls) > REPAIRS:
                raise AssistantFailed(f"the model called no tool {REPAIRS + 1} times in a row", calls)
            messages.append({"role": "user", "content": "Call one of the tools."})
            continue
        results = []
        for b in uses:
            try:
                out, ok, error = session.run(b.name, b.input if isinstance(b.input, dict) else {}), True, None
            except ValueError as exc:
                out, ok, error = {"error": str(exc)}, False, str(exc)
            calls.append(ToolCall(b.name, ok, error))
            results.append({"type": "tool_result", "tool_use_id": b.id, "content": json.dumps(out, default=str),
                            "is_error": not ok})
        messages.append({"role": "user", "content": results})
        if _streak(calls) > REPAIRS:
            raise AssistantFailed(f"the model failed one step {REPAIRS + 1} times in a row: {calls[-1].error}", calls)
        if session.finished:
            start, message = session.finished
            return AssistedPlan(start, session.windows[start], session.planned[start], message, calls)
    raise AssistantFailed(f"no plan after {MAX_TURNS} turns ({sum(not c.ok for c in calls)} failed tool calls)", calls)

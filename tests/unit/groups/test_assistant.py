"""The group planner with Claude choosing the tools (shared.domains.groups.assistant), against the local Anthropic
fake: the plan it finishes with is the deterministic spectrum of the window it chose; a bad tool call is answered
as an error the model can correct; a conversation that never finishes, or a model that cannot be reached, fails
so that the caller serves the deterministic planner."""
from __future__ import annotations

import datetime as dt

import pytest

from bench.group_release_gate import tool_call_trial
from shared.adapters.anthropic_client import AnthropicClient, RetryPolicy
from shared.domains.groups.assistant import REPAIRS, AssistantFailed, PlanningInputs, plan_with_tools, steps
from shared.domains.groups.availability import MemberBusy
from shared.domains.groups.spectrum import GroupHistory, OutingWindow, spectrum
from tests.fakes.anthropic_server import FakeAnthropic, overloaded, text_reply, tool_use
from tests.unit.groups.test_release_gate import SCENARIOS, _catalogue
from tests.unit.groups.venues import SEATTLE, VENUES, members

DAY = dt.date(2031, 6, 7)   # a Saturday; everyone is busy until 18:00, so the window is the evening


def _inputs() -> PlanningInputs:
    group = members()
    busy = [MemberBusy(m.user_id, SEATTLE, [(dt.datetime.combine(DAY, dt.time(8), SEATTLE),
                                            dt.datetime.combine(DAY, dt.time(18), SEATTLE))]) for m in group]
    return PlanningInputs(group, busy, VENUES, SEATTLE, GroupHistory(), "least_misery", 3, 180,
                          dt.datetime.combine(DAY, dt.time(8), SEATTLE), 1)


def _client(fake) -> AnthropicClient:
    return AnthropicClient(api_key="k", base_url=fake.base_url, sleep=lambda _s: None,
                           retry=RetryPolicy(max_attempts=3))


EVENING = dt.datetime.combine(DAY, dt.time(18), SEATTLE).isoformat()


def test_the_finished_plan_is_the_spectrum_of_the_window_the_model_chose():
    with FakeAnthropic() as fake:
        fake.script(tool_use("find_windows", {"weeks": 1}), tool_use("plan_options", {"window_start": EVENING}),
                    tool_use("plan_carpools", {"option": 0}),
                    tool_use("finish", {"window_start": EVENING, "message": "Saturday evening works for all four."}))
        plan = plan_with_tools(_inputs(), _client(fake))
        assert [c.name for c in plan.calls] == ["find_windows", "plan_options", "plan_carpools", "finish"]
        assert all(c.ok for c in plan.calls)
        # the tool results went back to the model with the ids of its calls
        last = fake.requests[-1]["messages"]
        assert last[-1]["content"][0]["type"] == "tool_result" and not last[-1]["content"][0]["is_error"]
    start = dt.datetime.fromisoformat(EVENING)
    expected = spectrum(VENUES, members(), OutingWindow(start, start + dt.timedelta(minutes=180), SEATTLE))
    assert plan.window_start == start and [o.venue_ids for o in plan.options] == [o.venue_ids for o in expected]
    assert plan.message.startswith("Saturday")


def test_a_bad_tool_call_is_answered_as_an_error_naming_the_field_and_the_model_can_correct_it():
    with FakeAnthropic() as fake:
        fake.script(tool_use("find_windows", {"weeks": 1}), tool_use("plan_options", {"window_start": "tomorrow"}),
                    tool_use("plan_options", {"window_start": "2031-06-08T12:00:00+00:00"}),
                    tool_use("plan_options", {"window_start": EVENING}),
                    tool_use("finish", {"window_start": EVENING, "message": "Done."}))
        plan = plan_with_tools(_inputs(), _client(fake))
        errors = [m for m in fake.requests[-1]["messages"] if m["role"] == "user" and isinstance(m["content"], list)
                  and m["content"][0].get("is_error")]
    assert [c.ok for c in plan.calls] == [True, False, False, True, True]
    assert "window_start" in plan.calls[1].error and "not one of the windows" in plan.calls[2].error
    assert len(errors) == 2


def test_no_plan_without_finishing_and_no_plan_without_the_model():
    with FakeAnthropic() as fake:
        fake.responder = lambda _req: text_reply("Hmm.")
        with pytest.raises(AssistantFailed, match=f"no tool {REPAIRS + 1} times in a row"):
            plan_with_tools(_inputs(), _client(fake))
    with FakeAnthropic() as fake:
        fake.responder = lambda _req: overloaded()
        with pytest.raises(AssistantFailed, match="could not be reached"):
            plan_with_tools(_inputs(), _client(fake))
        assert len(fake.requests) == 3   # the client's retries, then the fallback


def test_the_gate_measures_tool_call_success_under_injected_failures():
    trial = tool_call_trial(SCENARIOS, _catalogue, sessions=len(SCENARIOS))
    assert trial["sessions"] == len(SCENARIOS) and trial["finished_with_a_plan"] == len(SCENARIOS)
    assert trial["tool_call_success"] > 0.95 and trial["steps"] >= 4 * len(SCENARIOS)
    assert trial["attempt_validity"] <= trial["tool_call_success"]


def test_a_step_is_a_decision_that_succeeds_within_the_repairs():
    from shared.domains.groups.assistant import ToolCall

    ok, bad = ToolCall("x", True), ToolCall("x", False, "e")
    assert steps([ok, bad, ok, bad, bad, ok]) == [True, True, True]
    assert steps([bad] * (REPAIRS + 1) + [ok]) == [False, True]
    assert steps([ok, bad]) == [True, False]

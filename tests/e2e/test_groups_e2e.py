"""Friend groups end to end through the local gateway, on the seeded Seattle catalogue: three users form a group,
upload calendars (an .ics with a recurring event, busy intervals, a Google calendar read through the local
freeBusy fake), get the common windows and five options from safe to adventurous that respect everyone's budget
and diet and are open in the window, vote, close; the plan has carpools and an .ics per member; after the
outing the retrospective becomes signals and moves the next cycle's safe option. Then the monthly job over a set
of groups, and bad input refused naming its field with nothing written.

The one thing not done through the API is the passing of time: the test moves the closed outing into the past
with SQL, as the outing having happened."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import uuid

import httpx
import icalendar
import pytest

from tests.e2e.conftest import CITY, fetch as _fetch, wait_rows

UTC = dt.timezone.utc


def _auth(user: str) -> dict:
    return {"Authorization": f"Bearer {user}"}


def _uid(name: str) -> str:
    return f"grp-{name}-{uuid.uuid4().hex[:6]}"


def _ics(weekly_from: dt.datetime, hours: int = 6) -> str:
    """A weekly recurring busy block from `weekly_from`, and a cancelled all-day-long event the day after."""
    end, fmt = weekly_from + dt.timedelta(hours=hours), "%Y%m%dT%H%M%SZ"
    next_day = weekly_from + dt.timedelta(days=1)
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
            f"BEGIN:VEVENT\r\nUID:weekly@test\r\nDTSTART:{weekly_from:{fmt}}\r\nDTEND:{end:{fmt}}\r\n"
            "RRULE:FREQ=WEEKLY;COUNT=10\r\nSUMMARY:Football\r\nEND:VEVENT\r\n"
            f"BEGIN:VEVENT\r\nUID:cancelled@test\r\nDTSTART:{next_day:{fmt}}\r\n"
            f"DTEND:{next_day + dt.timedelta(hours=20):{fmt}}\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n"
            "END:VCALENDAR\r\n")


def _ok(resp: httpx.Response, status: int = 200) -> dict:
    assert resp.status_code == status, resp.text
    return resp.json()


def _refused(resp: httpx.Response, status: int, field: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["field"] == field, resp.text


def _sql(dsn: str, sql: str, *args):
    return asyncio.run(_fetch(dsn, sql, *args))


def _group(client, owner: str, **me) -> dict:
    return _ok(client.post("/v1/groups", headers=_auth(owner), json={
        "name": "Thursday crew", "city": CITY, "monthly_budget": 80, "quorum": 2, "me": me}), 201)


def test_a_group_month_through_the_gateway(seattle):
    from shared.domains.groups import cycles, membership
    from shared.domains.groups.spectrum import OutingWindow, check_option, spectrum
    from shared.domains.groups.view_models import CycleView, GroupCreated, RetrospectiveView, WindowsView

    dsn = seattle.env["DATABASE_URL"]
    ana, ben, cai = _uid("ana"), _uid("ben"), _uid("cai")
    with httpx.Client(base_url=seattle.gateway_url, timeout=120) as client:
        made = _group(client, ana, display_name="Ana", home={"lat": 47.6205, "lon": -122.3493}, seats=3,
                      tags={"food": ["seafood"], "interests": ["museums"]})
        GroupCreated.model_validate(made)  # the bodies are the documented ones (closed models)
        gid, code = made["id"], made["invite"]["code"]
        assert made["timezone"] == "America/Los_Angeles" and made["members"][0]["you"]
        _ok(client.post("/v1/groups/join", headers=_auth(ben), json={"code": code, "me": {
            "display_name": "Ben", "home": {"address": "Pike Place Market"}, "tags": {"interests": ["parks"]}}}), 201)
        joined = _ok(client.post("/v1/groups/join", headers=_auth(cai), json={"code": code, "me": {
            "display_name": "Cai", "diet": ["vegetarian"], "home": {"lat": 47.6097, "lon": -122.3331},
            "tags": {"food": ["coffee"], "vibe": ["local"]}}}), 201)
        assert [m["display_name"] for m in joined["members"]] == ["Ana", "Ben", "Cai"]
        assert joined["diets"] == ["vegetarian"] and joined["members"][1]["home"]["label"] == "Pike Place Market"

        # calendars: Ana's recurring Saturday football (.ics), Ben's busy nights, Cai's Google calendar
        now = dt.datetime.now(UTC)
        first_sat = (now + dt.timedelta(days=(5 - now.weekday()) % 7 + 1)).replace(hour=17, minute=0, second=0,
                                                                                 microsecond=0)  # 09:00 Seattle
        _ok(client.put(f"/v1/groups/{gid}/members/me/calendar", headers=_auth(ana), json={"ics": _ics(first_sat)}))
        busy = [{"start": (now + dt.timedelta(days=d)).replace(hour=1, minute=0).isoformat(),
                 "end": (now + dt.timedelta(days=d)).replace(hour=5, minute=0).isoformat()} for d in range(1, 8)]
        _ok(client.put(f"/v1/groups/{gid}/members/me/calendar", headers=_auth(ben), json={"busy": busy}))
        seattle.calendar.calendars["cai@example.com"] = [(first_sat.isoformat(),
                                                          (first_sat + dt.timedelta(hours=3)).isoformat())]
        _ok(client.put(f"/v1/groups/{gid}/members/me/calendar", headers=_auth(cai),
                       json={"google_calendar_id": "cai@example.com"}))

        found = _ok(client.get(f"/v1/groups/{gid}/windows", headers=_auth(ben), params={"weeks": 4}))
        WindowsView.model_validate(found)
        assert found["windows"] and not found["unreadable"]
        assert any(call["items"] == [{"id": "cai@example.com"}] for call in seattle.calendar.calls)
        football = [(first_sat + dt.timedelta(weeks=k), first_sat + dt.timedelta(weeks=k, hours=6)) for k in range(4)]
        for w in found["windows"]:
            start, end = dt.datetime.fromisoformat(w["start"]), dt.datetime.fromisoformat(w["end"])
            if ana in w["attendees"]:
                assert all(end <= b or start >= e for b, e in football), f"Ana is at football during {w}"

        # five options, safe -> adventurous, within everyone's budget and diet, open in the window
        cycle = _ok(client.post(f"/v1/groups/{gid}/cycles", headers=_auth(ana), json={}), 201)
        CycleView.model_validate(cycle)
        options = cycle["options"]
        assert cycle["status"] == "voting" and len(options) == 5
        assert [o["label"] for o in options] == ["safe", "familiar", "balanced", "fresh", "adventurous"]
        assert [o["novelty"] for o in options] == sorted(o["novelty"] for o in options)
        assert all(o["cost_per_person"] <= 80 and set(o["satisfaction"]) == set(cycle["attendees"]) for o in options)
        assert all(o["explanations"][m] for o in options for m in cycle["attendees"])

        async def problems(conn):
            group = await membership.load_group(conn, gid, ana)
            members = [m for m in await membership.members(conn, group) if m.user_id in cycle["attendees"]]
            venues = {v.id: v for v in await cycles.city_venues(conn, CITY)}
            window = OutingWindow(dt.datetime.fromisoformat(cycle["window"]["start"]),
                                  dt.datetime.fromisoformat(cycle["window"]["end"]), group.tz)
            return [check_option(cycles.option_from_json(o), members, venues, window) for o in options]
        assert _in_db(problems) == [[]] * 5   # budget, diet, hours and every explanation claim hold

        # the vote: everyone approves option 2, so it may close before the deadline
        for user, approve in ((ana, [1, 2]), (ben, [2]), (cai, [2, 3])):
            _ok(client.post(f"/v1/groups/{gid}/cycles/{cycle['id']}/votes", headers=_auth(user),
                            json={"approve": approve}))
        closed = _ok(client.post(f"/v1/groups/{gid}/cycles/{cycle['id']}/close", headers=_auth(ben)))
        CycleView.model_validate(closed)
        assert closed["status"] == "closed" and closed["winner"] == 2 and "most approvals" in closed["reason"]
        _refused(client.post(f"/v1/groups/{gid}/cycles/{cycle['id']}/votes", headers=_auth(ana),
                             json={"approve": [0]}), 409, "status")
        pool = closed["carpools"]
        assert set(pool["lines"]) == {ana, ben, cai} and all(pool["lines"].values())
        assert {r["driver"] for r in pool["routes"]} <= {ana}
        placed = {p["user_id"] for r in pool["routes"] for p in r["pickups"]} | {u["user_id"] for u in pool["on_their_own"]}
        assert placed | {ana} >= set(closed["attendees"])
        winner = options[2]
        for user in (ana, ben, cai):
            resp = client.get(f"/v1/groups/{gid}/cycles/{cycle['id']}/invite.ics", headers=_auth(user))
            assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/calendar"), resp.text
            event = next(iter(icalendar.Calendar.from_ical(resp.content).walk("VEVENT")))
            assert event["DTSTART"].dt == dt.datetime.fromisoformat(winner["stops"][0]["start"])
            assert winner["stops"][0]["name"] in str(event["LOCATION"])
            assert pool["lines"][user] in str(event["DESCRIPTION"])

        # the outing happens (time is the one thing moved by SQL); everyone who came rates it 5
        next_start = dt.datetime.fromisoformat(cycle["window"]["start"]) + dt.timedelta(days=35)

        async def next_safe(conn):
            group = await membership.load_group(conn, gid, ana)
            window = OutingWindow(next_start, next_start + dt.timedelta(minutes=group.outing_minutes), group.tz)
            return spectrum(await cycles.city_venues(conn, CITY), await membership.members(conn, group), window,
                            cycles.history_of(group), group.aggregation)[0]
        before = _in_db(next_safe)
        _sql(dsn, "UPDATE group_cycles SET window_start = now() - interval '5 hours', "
                  "window_end = now() - interval '2 hours' WHERE id = $1", cycle["id"])
        came = closed["attendees"]
        for user in came:
            review = _ok(client.post(f"/v1/groups/{gid}/cycles/{cycle['id']}/retrospective", headers=_auth(user),
                                     json={"rating": 5, "venue_ratings": {s["venue_id"]: 5 for s in winner["stops"]},
                                           "attended": came}), 201)
            RetrospectiveView.model_validate(review)
            assert review["signals"] == len(winner["stops"])
        assert review["status"] == "reviewed"
        expected = {(u, s["venue_id"]) for u in came for s in winner["stops"]}
        signals = wait_rows(dsn, "SELECT user_id, signal_type, activity_node_id FROM behavioral_signals "
                                 "WHERE trip_id = $1 AND (SELECT count(*) FROM behavioral_signals WHERE trip_id = $1) >= $2",
                           cycle["id"], len(expected))  # the sink stores them one push at a time: wait for all
        assert {(s["user_id"], s["activity_node_id"]) for s in signals} == expected
        assert {s["signal_type"] for s in signals} == {"thumbs_up"}

        after = _in_db(next_safe)
        liked = {s["category"] for s in winner["stops"]}
        assert before.venue_ids != after.venue_ids and liked & {s.category for s in after.stops}
        following = _ok(client.post(f"/v1/groups/{gid}/cycles", headers=_auth(ana),
                                    json={"window_start": next_start.isoformat()}), 201)
        assert [s["venue_id"] for s in following["options"][0]["stops"]] == list(after.venue_ids)


def _in_db(work):
    async def go():
        from shared.adapters.postgres import create_pool

        pool = await create_pool(min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                return await work(conn)
        finally:
            await pool.close()

    return asyncio.run(go())


def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(seattle):
    dsn = seattle.env["DATABASE_URL"]
    owner, other, stranger = _uid("own"), _uid("oth"), _uid("str")
    with httpx.Client(base_url=seattle.gateway_url, timeout=60) as client:
        _refused(client.post("/v1/groups", headers=_auth(owner), json={
            "name": "x", "city": CITY, "monthly_budget": -5}), 400, "monthly_budget")
        assert _sql(dsn, "SELECT 1 FROM groups WHERE owner_id = $1", owner) == []
        made = _group(client, owner, home={"lat": 47.61, "lon": -122.33})
        gid, code = made["id"], made["invite"]["code"]
        _ok(client.post("/v1/groups/join", headers=_auth(other), json={"code": code}), 201)
        _refused(client.post("/v1/groups/join", headers=_auth(other), json={"code": code}), 409, "code")
        _refused(client.get(f"/v1/groups/{gid}", headers=_auth(stranger)), 404, "group_id")
        _refused(client.delete(f"/v1/groups/{gid}/members/{owner}", headers=_auth(other)), 403, "user_id")
        _refused(client.put(f"/v1/groups/{gid}/members/me/calendar", headers=_auth(other),
                            json={"ics": "BEGIN:VCALENDAR\r\nnot ics"}), 400, "ics")
        assert _sql(dsn, "SELECT 1 FROM group_calendars WHERE group_id = $1", gid) == []
        _refused(client.put(f"/v1/groups/{gid}/members/me", headers=_auth(other),
                            json={"home": {"address": "Nowhere Street 99"}}), 400, "body.home.address")
        _refused(client.put(f"/v1/groups/{gid}/members/me", headers=_auth(other), json={"seats": True}), 400, "seats")

        # a vote after the deadline: the cycle's deadline is moved into the past, as time passing would
        cycle = _ok(client.post(f"/v1/groups/{gid}/cycles", headers=_auth(owner), json={}), 201)
        _sql(dsn, "UPDATE group_cycles SET deadline = now() - interval '1 minute' WHERE id = $1", cycle["id"])
        _refused(client.post(f"/v1/groups/{gid}/cycles/{cycle['id']}/votes", headers=_auth(other),
                             json={"approve": [1]}), 409, "deadline")
        assert _sql(dsn, "SELECT 1 FROM group_votes WHERE cycle_id = $1", cycle["id"]) == []
        _refused(client.post(f"/v1/groups/{gid}/cycles/{cycle['id']}/votes", headers=_auth(stranger),
                             json={"approve": [1]}), 404, "group_id")


def test_the_monthly_job_closes_every_active_group_or_says_why(seattle):
    dsn = seattle.env["DATABASE_URL"]
    ids = []
    with httpx.Client(base_url=seattle.gateway_url, timeout=60) as client:
        for k in range(3):
            owner, friend = _uid(f"m{k}o"), _uid(f"m{k}f")
            made = _group(client, owner, home={"lat": 47.61 + k / 100, "lon": -122.33}, seats=2)
            _ok(client.post("/v1/groups/join", headers=_auth(friend), json={
                "code": made["invite"]["code"], "me": {"home": {"lat": 47.6, "lon": -122.32}}}), 201)
            ids.append((made["id"], friend))
        # the third group's friend is busy all month: no window with a quorum of 2
        gid, friend = ids[2]
        start = dt.datetime(2031, 3, 1, tzinfo=UTC)
        _ok(client.put(f"/v1/groups/{gid}/members/me/calendar", headers=_auth(friend), json={
            "busy": [{"start": start.isoformat(), "end": (start + dt.timedelta(days=45)).isoformat()}]}))
    env = {**os.environ, **seattle.env}
    for when in ("2031-03-01T16:00:00Z", "2031-03-05T16:00:00Z"):  # the 1st starts the cycles, the 5th closes them
        proc = subprocess.run([sys.executable, "-m", "jobs.group_cycles.main", "--now", when], env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _sql(dsn, "SELECT group_id, status, reason, winner FROM group_cycles WHERE group_id = ANY($1::text[]) "
                     "AND month = '2031-03-01'", [g for g, _ in ids])
    by_group = {r["group_id"]: r for r in rows}
    assert set(by_group) == {g for g, _ in ids}
    for g, _ in ids[:2]:
        assert by_group[g]["status"] == "closed" and by_group[g]["winner"] == 0, by_group[g]["reason"]
        assert by_group[g]["reason"] == "no votes: the safe option closes the plan"
    assert by_group[ids[2][0]]["status"] == "proposed" and "no 180-minute window" in by_group[ids[2][0]]["reason"]


@pytest.fixture(autouse=True)
def _no_stale_groups(seattle):
    """Groups these tests made go with the module, so later modules can reset Seattle's catalogue."""
    yield
    _sql(seattle.env["DATABASE_URL"], "DELETE FROM groups WHERE id IN (SELECT g.id FROM groups g JOIN users u "
                                      "ON u.id = g.owner_id WHERE u.id LIKE 'grp-%')")


def test_with_a_key_claude_chooses_the_tools_and_without_a_working_model_the_planner_says_it_fell_back(
        seattle, monkeypatch):
    """The cycle's served_by names who planned it: the assistant (Claude choosing the tools, here the Anthropic
    fake scripted as a tool-using model) or the deterministic planner with the reason it fell back."""
    from bench.group_release_gate import _scripted_model
    from shared.domains.groups import cycles, membership
    from shared.domains.groups.assistant import SERVED_BY
    from shared.settings import get_settings
    from tests.fakes.anthropic_server import FakeAnthropic, overloaded

    class NoInjection:
        def random(self) -> float:
            return 0.999

    owners = []
    with httpx.Client(base_url=seattle.gateway_url, timeout=60) as client:
        for k in range(2):
            owner, friend = _uid(f"llm{k}o"), _uid(f"llm{k}f")
            made = _group(client, owner, home={"lat": 47.61, "lon": -122.33}, seats=2)
            _ok(client.post("/v1/groups/join", headers=_auth(friend), json={"code": made["invite"]["code"]}), 201)
            owners.append((made["id"], owner))

    def start(gid, owner):
        async def go(conn):
            return await cycles.start_cycle(conn, await membership.load_group(conn, gid, owner))
        return _in_db(go)

    for responder, (gid, owner) in ((_scripted_model(NoInjection()), owners[0]), (lambda _r: overloaded(), owners[1])):
        with FakeAnthropic(responder=responder) as fake:
            monkeypatch.setenv("ANTHROPIC_API_KEY", "fake-key")
            monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
            get_settings.cache_clear()
            try:
                cycle = start(gid, owner)
            finally:
                monkeypatch.delenv("ANTHROPIC_API_KEY")
                monkeypatch.delenv("ANTHROPIC_BASE_URL")
                get_settings.cache_clear()
            assert fake.requests
        assert len(cycle["options"]) == 5
        if gid == owners[0][0]:
            assert cycle["served_by"] == SERVED_BY
            names = [b["name"] for m in fake.requests[-1]["messages"] if m["role"] == "assistant"
                     for b in m["content"] if b.get("type") == "tool_use"]
            assert names[:2] == ["find_windows", "plan_options"]
        else:
            assert cycle["served_by"].startswith("group_planner:deterministic (the LLM planner failed")

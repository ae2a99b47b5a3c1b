"""A friend group's month in Seattle, on the real catalogue and the real Postgres of the session stack: form the
group, calendars (.ics with a recurring event, busy intervals, a Google calendar through the local freeBusy
fake), common windows, five options safe → adventurous, approval vote, close with carpools and an .ics per
member, a retrospective that moves the next safe option; then the monthly job over a set of groups; and the bad
inputs, each refused naming its field with nothing written.

It drives shared.domains.groups directly; the gateway routes for functions/groups are not in the OpenAPI document
yet."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import uuid

import icalendar
import pytest

from shared.domains.errors import Conflict, InvalidRequest, NotFound
from tests.fakes.calendar_server import FakeCalendar

pytestmark = pytest.mark.usefixtures("seattle")
UTC = dt.timezone.utc


def _uid(name: str) -> str:
    return f"grp-{name}-{uuid.uuid4().hex[:6]}"


def _ics(weekly_from: dt.datetime, hours: int = 6) -> str:
    """A weekly recurring busy block (every Saturday from `weekly_from`), an all-day event and a cancelled one."""
    end = weekly_from + dt.timedelta(hours=hours)
    fmt = "%Y%m%dT%H%M%SZ"
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
            f"BEGIN:VEVENT\r\nUID:weekly@test\r\nDTSTART:{weekly_from:{fmt}}\r\nDTEND:{end:{fmt}}\r\n"
            "RRULE:FREQ=WEEKLY;COUNT=10\r\nSUMMARY:Football\r\nEND:VEVENT\r\n"
            f"BEGIN:VEVENT\r\nUID:cancelled@test\r\nDTSTART:{(weekly_from + dt.timedelta(days=1)):{fmt}}\r\n"
            f"DTEND:{(weekly_from + dt.timedelta(days=1, hours=20)):{fmt}}\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n"
            "END:VCALENDAR\r\n")


def _run(coro_fn):
    async def go():
        from shared.adapters.postgres import create_pool

        pool = await create_pool(min_size=1, max_size=2)
        try:
            async with pool.acquire() as conn:
                return await coro_fn(conn)
        finally:
            await pool.close()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def calendar_fake():
    from shared.settings import get_settings

    with FakeCalendar() as fake:
        os.environ["GOOGLE_CALENDAR_BASE_URL"], os.environ["GOOGLE_CALENDAR_ACCESS_TOKEN"] = fake.base_url, fake.token
        get_settings.cache_clear()
        yield fake
        os.environ.pop("GOOGLE_CALENDAR_BASE_URL")
        os.environ.pop("GOOGLE_CALENDAR_ACCESS_TOKEN")
        get_settings.cache_clear()


def _profile(**kw):
    from shared.domains.groups.schemas import MemberProfile

    return MemberProfile.model_validate(kw)


def _create(owner: str, *, budget=80.0, quorum=2, **me):
    from shared.domains.groups.membership import create_group
    from shared.domains.groups.schemas import GroupCreate

    body = GroupCreate.model_validate({"name": "Thursday crew", "city": "seattle", "monthly_budget": budget,
                                       "quorum": quorum, "me": me})
    return _run(lambda conn: create_group(conn, owner, body, "seattle", -122.33))


def test_a_group_month_from_calendars_to_retrospective(calendar_fake):
    from shared.domains.groups import calendars, cycles, membership
    from shared.domains.groups.schemas import CalendarUpload
    from shared.domains.groups.spectrum import OutingWindow, check_option, spectrum

    ana, ben, cai = _uid("ana"), _uid("ben"), _uid("cai")
    made = _create(ana, display_name="Ana", home={"lat": 47.6205, "lon": -122.3493}, seats=3,
                   tags={"food": ["seafood"], "interests": ["museums"]})
    gid, code = made["id"], made["invite"]["code"]
    assert made["timezone"] == "America/Los_Angeles"
    _run(lambda conn: membership.join(conn, code, ben, _profile(display_name="Ben", home={"address": "Pike Place Market"},
                                                                 tags={"interests": ["parks", "views"]})))
    _run(lambda conn: membership.join(conn, code, cai, _profile(display_name="Cai", diet=["vegetarian"],
                                                                 home={"lat": 47.6097, "lon": -122.3331},
                                                                 tags={"food": ["coffee"], "vibe": ["local"]})))

    # calendars: Ana's recurring Saturday football (.ics), Ben's busy evenings, Cai's Google calendar
    now = dt.datetime.now(UTC)
    first_sat = (now + dt.timedelta(days=(5 - now.weekday()) % 7 + 1)).replace(hour=17, minute=0, second=0,
                                                                             microsecond=0)  # 09:00 in Seattle
    _run(lambda conn: calendars.save_calendar(conn, gid, ana, CalendarUpload(ics=_ics(first_sat))))
    ben_busy = [{"start": (now + dt.timedelta(days=d)).replace(hour=1, minute=0).isoformat(),
                 "end": (now + dt.timedelta(days=d)).replace(hour=5, minute=0).isoformat()} for d in range(1, 8)]
    _run(lambda conn: calendars.save_calendar(conn, gid, ben, CalendarUpload.model_validate({"busy": ben_busy})))
    calendar_fake.calendars["cai@example.com"] = [(first_sat.isoformat(), (first_sat + dt.timedelta(hours=3)).isoformat())]
    _run(lambda conn: calendars.save_calendar(conn, gid, cai, CalendarUpload(google_calendar_id="cai@example.com")))

    async def windows(conn):
        group = await membership.load_group(conn, gid, ana)
        return await calendars.windows(conn, group, now, 4)
    found = _run(windows)
    assert found["windows"] and not found["unreadable"] and calendar_fake.calls
    football = [(first_sat + dt.timedelta(weeks=k), first_sat + dt.timedelta(weeks=k, hours=6)) for k in range(4)]
    for w in found["windows"]:
        start, end = dt.datetime.fromisoformat(w["start"]), dt.datetime.fromisoformat(w["end"])
        if ana in w["attendees"]:
            assert all(end <= b or start >= e for b, e in football), f"Ana is at football during {w}"

    # five options, safe -> adventurous, each within budget and diet and open in the window
    async def start(conn):
        group = await membership.load_group(conn, gid, ana)
        return await cycles.start_cycle(conn, group)
    cycle = _run(start)
    options = cycle["options"]
    assert len(options) == 5 and cycle["status"] == "voting"
    assert [o["novelty"] for o in options] == sorted(o["novelty"] for o in options)
    assert [o["label"] for o in options][0] == "safe" and options[-1]["label"] == "adventurous"

    async def check(conn):
        group = await membership.load_group(conn, gid, ana)
        members = [m for m in await membership.members(conn, group) if m.user_id in cycle["attendees"]]
        venues = {v.id: v for v in await cycles.city_venues(conn, "seattle")}
        window = OutingWindow(dt.datetime.fromisoformat(cycle["window"]["start"]),
                              dt.datetime.fromisoformat(cycle["window"]["end"]), group.tz)
        return [check_option(cycles.option_from_json(o), members, venues, window) for o in options]
    assert _run(check) == [[]] * 5
    for o in options:
        assert o["cost_per_person"] <= 80
        assert set(o["satisfaction"]) == set(cycle["attendees"])

    # the vote: Ben and Cai agree on option 2, Ana approves 1 and 2; everyone voted, so it may close early
    async def voting(conn):
        group = await membership.load_group(conn, gid, ana)
        for user, approve in ((ana, [1, 2]), (ben, [2]), (cai, [2, 3])):
            await cycles.vote(conn, group, cycle["id"], user, approve)
        late = dt.datetime.fromisoformat(cycle["deadline"]) + dt.timedelta(seconds=1)
        with pytest.raises(Conflict) as refused:
            await cycles.vote(conn, group, cycle["id"], ana, [0], now=late)
        assert refused.value.field == "deadline"
        return await cycles.close(conn, group, cycle["id"])
    closed = _run(voting)
    assert closed["status"] == "closed" and closed["winner"] == 2 and "most approvals" in closed["reason"]
    carpools = closed["carpools"]
    assert set(carpools["lines"]) == {ana, ben, cai}
    riders = {p["user_id"] for r in carpools["routes"] for p in r["pickups"]} | {
        u["user_id"] for u in carpools["on_their_own"]}
    assert {r["driver"] for r in carpools["routes"]} <= {ana} and riders | {ana} >= set(closed["attendees"])

    async def invites(conn):
        group = await membership.load_group(conn, gid, ana)
        return {u: await cycles.invitation(conn, group, cycle["id"], u) for u in (ana, ben, cai)}
    for user, raw in _run(invites).items():
        event = next(c for c in icalendar.Calendar.from_ical(raw).walk("VEVENT"))
        assert event["DTSTART"].dt == dt.datetime.fromisoformat(options[2]["stops"][0]["start"])
        assert options[2]["stops"][0]["name"] in str(event["LOCATION"])

    # after the outing: both rate it 5; the next cycle's safe option leans toward what worked
    async def safe_option(conn):
        group = await membership.load_group(conn, gid, ana)
        members = await membership.members(conn, group)
        start = dt.datetime.fromisoformat(cycle["window"]["start"]) + dt.timedelta(weeks=5)
        window = OutingWindow(start, start + dt.timedelta(minutes=group.outing_minutes), group.tz)
        return spectrum(await cycles.city_venues(conn, "seattle"), members, window, cycles.history_of(group),
                        group.aggregation)[0]
    before = _run(safe_option)
    winner = options[2]
    after_outing = dt.datetime.fromisoformat(cycle["window"]["end"]) + dt.timedelta(hours=2)

    async def review(conn):
        group = await membership.load_group(conn, gid, ana)
        came = list(closed["attendees"])
        for user in came:
            out = await cycles.retrospective(conn, group, cycle["id"], user, 5,
                                             {s["venue_id"]: 5 for s in winner["stops"]}, came, now=after_outing)
        return out
    reviewed = _run(review)
    assert reviewed["status"] == "reviewed" and reviewed["signals"]
    after = _run(safe_option)
    liked = {s["category"] for s in winner["stops"]}
    assert before.venue_ids != after.venue_ids or liked & {s.category for s in after.stops}
    assert liked & {s.category for s in after.stops}


def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(calendar_fake):
    from shared.api.errors import ApiError
    from shared.api.http import parse
    from shared.domains.groups import calendars, membership
    from shared.domains.groups.schemas import CalendarUpload, GroupCreate

    with pytest.raises(ApiError) as bad:
        parse(GroupCreate, {"name": "x", "city": "seattle", "monthly_budget": -5})
    assert bad.value.status == 400 and bad.value.field == "monthly_budget"

    owner, other, stranger = _uid("own"), _uid("oth"), _uid("str")
    made = _create(owner, home={"lat": 47.61, "lon": -122.33})
    gid = made["id"]
    _run(lambda conn: membership.join(conn, made["invite"]["code"], other, _profile()))
    with pytest.raises(Conflict) as twice:
        _run(lambda conn: membership.join(conn, made["invite"]["code"], other, _profile()))
    assert twice.value.field == "code"
    with pytest.raises(NotFound) as hidden:
        _run(lambda conn: membership.load_group(conn, gid, stranger))
    assert hidden.value.field == "group_id"
    with pytest.raises(InvalidRequest) as not_owner:
        _run(lambda conn: membership.remove_member(conn, gid, other, owner))
    assert not_owner.value.field == "user_id"
    with pytest.raises(InvalidRequest) as unparsable:
        _run(lambda conn: calendars.save_calendar(conn, gid, other, CalendarUpload(ics="BEGIN:VCALENDAR\r\nnot ics")))
    assert unparsable.value.field == "ics"
    rows = _run(lambda conn: conn.fetch("SELECT 1 FROM group_calendars WHERE group_id = $1", gid))
    assert rows == []
    with pytest.raises(InvalidRequest) as unplaced:
        _run(lambda conn: membership.update_me(conn, gid, other, _profile(home={"address": "Nowhere Street 99"})))
    assert unplaced.value.field == "body.home.address"


def test_the_monthly_job_closes_every_active_group_or_says_why(calendar_fake, seattle):
    from shared.domains.groups import calendars, membership
    from shared.domains.groups.schemas import CalendarUpload

    ids = []
    for k in range(3):
        owner, friend = _uid(f"m{k}o"), _uid(f"m{k}f")
        made = _create(owner, home={"lat": 47.61 + k / 100, "lon": -122.33}, seats=2)
        _run(lambda conn: membership.join(conn, made["invite"]["code"], friend, _profile(home={"lat": 47.6, "lon": -122.32})))
        ids.append((made["id"], friend))
    # the third group's friend is busy for the whole month: no window with a quorum of 2
    gid, friend = ids[2]
    start = dt.datetime(2031, 3, 1, tzinfo=UTC)
    _run(lambda conn: calendars.save_calendar(conn, gid, friend, CalendarUpload.model_validate(
        {"busy": [{"start": start.isoformat(), "end": (start + dt.timedelta(days=45)).isoformat()}]})))
    env = {**os.environ, **seattle.env}
    for when in ("2031-03-01T16:00:00Z", "2031-03-05T16:00:00Z"):
        proc = subprocess.run([sys.executable, "-m", "jobs.group_cycles.main", "--now", when, "--json"], env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _run(lambda conn: conn.fetch("SELECT group_id, status, reason, winner FROM group_cycles "
                                        "WHERE group_id = ANY($1::text[])", [g for g, _ in ids]))
    by_group = {r["group_id"]: r for r in rows}
    assert set(by_group) == {g for g, _ in ids}
    for g, _ in ids[:2]:
        assert by_group[g]["status"] == "closed" and by_group[g]["winner"] == 0, by_group[g]["reason"]
        assert by_group[g]["reason"] == "no votes: the safe option closes the plan"
    assert by_group[ids[2][0]]["status"] == "proposed" and "no 180-minute window" in by_group[ids[2][0]]["reason"]

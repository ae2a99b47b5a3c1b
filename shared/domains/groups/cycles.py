"""A group's monthly cycle, top to bottom: find the window → five options → approval vote → close (winner,
carpools, an .ics invitation per member) → the outing happens → retrospectives → preferences and history.

One cycle per group and month (the month of the outing, in the group's zone). Each step checks the status
machine of voting.Poll (proposed → voting → closed → happened → reviewed) and writes in one transaction, so a
refused step leaves nothing half-written. A cycle that cannot produce a plan (no window where a quorum is
free, fewer than five feasible options) is stored with no options and the reason, so every active group ends
the month with a closed plan or a stated reason (jobs/group_cycles).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from zoneinfo import ZoneInfo

from shared.adapters.anthropic_client import AnthropicClient, AnthropicUnavailable
from shared.domains.errors import Conflict, InvalidRequest, NotFound
from shared.domains.groups import assistant, calendars, invites, membership
from shared.domains.groups.assistant import AssistantFailed, PlanningInputs, plan_with_tools
from shared.domains.groups.availability import can_come
from shared.domains.groups.carpools import CarpoolPlan, plan_carpools
from shared.domains.groups.membership import Group
from shared.domains.groups.retrospective import Review, signal_records, updated_history, updated_preferences
from shared.domains.groups.spectrum import Claim, GroupHistory, Member, Option, OutingWindow, Stop, spectrum
from shared.domains.groups.voting import Poll, Status
from shared.domains.travel.trips.venues import VENUE_COLUMNS, candidate_from_row, fetch_rows

log = logging.getLogger("concierge.groups")
SEARCH_WEEKS = 4
DETERMINISTIC = "group_planner:deterministic"
VOTE_BEFORE_OUTING = dt.timedelta(hours=12)   # the plan is fixed at least this long before the outing
MIN_VOTE = dt.timedelta(hours=1)
LEAD = VOTE_BEFORE_OUTING + MIN_VOTE          # the soonest an outing can start: the vote needs its time


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def month_of(t: dt.datetime, tz: ZoneInfo) -> dt.date:
    return t.astimezone(tz).date().replace(day=1)


# --- (de)serialising options: the cycle row keeps them as JSON ------------------------------------------------
def option_json(o: Option) -> dict:
    out = o.as_dict()
    for stop, s in zip(out["stops"], o.stops):
        stop.update(lat=s.lat, lon=s.lon)
    return out


def option_from_json(d: dict) -> Option:
    stops = tuple(Stop(s["venue_id"], s["name"], s["role"], dt.datetime.fromisoformat(s["start"]),
                       dt.datetime.fromisoformat(s["end"]), s["cost_per_person"], s["category"], s["area"], s["lat"],
                       s["lon"], s.get("address"), s.get("hours_source", "listed")) for s in d["stops"])
    explanations = {u: tuple(Claim(c["member"], c["venue"], c["kind"], c["subject"], c["claim"], c["evidence"])
                             for c in cs) for u, cs in d["explanations"].items()}
    return Option(d["rank"], d["label"], stops, d["cost_per_person"], d["novelty"], d["group_score"],
                  d["aggregation"], d["satisfaction"], explanations)


def history_of(group: Group) -> GroupHistory:
    h = group.history or {}
    return GroupHistory(frozenset(h.get("venue_ids", [])), frozenset(h.get("categories", [])),
                        frozenset(h.get("areas", [])))


def _history_json(h: GroupHistory) -> dict:
    return {"venue_ids": sorted(h.venue_ids), "categories": sorted(h.categories), "areas": sorted(h.areas)}


async def city_venues(conn, city_id: str) -> list:
    rows = await conn.fetch(f"SELECT {VENUE_COLUMNS} FROM activity_nodes WHERE city_id = $1 AND plannable "
                            "AND lat IS NOT NULL", city_id)
    return [candidate_from_row(r) for r in rows]


# --- starting a cycle -----------------------------------------------------------------------------------------
async def _window(conn, group: Group, start: dt.datetime | None, now: dt.datetime) -> tuple[dt.datetime, list[str]]:
    """The outing's start and who is free then: the given start (refused when fewer than a quorum are free), or
    the best window of the coming weeks."""
    duration = dt.timedelta(minutes=group.outing_minutes)
    if start is None:
        found = await calendars.windows(conn, group, now + LEAD, SEARCH_WEEKS, limit=1)
        if not found["windows"]:
            raise NoWindow(f"no {group.outing_minutes}-minute window in the next {SEARCH_WEEKS} weeks where "
                           f"{found['quorum']} members are free")
        best = found["windows"][0]
        return dt.datetime.fromisoformat(best["start"]), best["attendees"]
    if start < now + LEAD:
        raise InvalidRequest(f"the outing must start at least {LEAD.total_seconds() // 3600:.0f} hours from now, "
                             "to leave time for the vote", "window_start")
    busy, _ = await calendars.busy_of_members(conn, group, start, start + duration)
    free = [m.user_id for m in busy if can_come(m, start, start + duration)]
    if len(free) < min(group.quorum, len(busy)):
        raise InvalidRequest(f"only {len(free)} members are free then; the group's quorum is {group.quorum} "
                             "(GET .../windows lists times that work)", "window_start")
    return start, free


class NoWindow(Conflict):
    code = "no_window"

    def __init__(self, message: str):
        super().__init__(message, "window_start")


async def start_cycle(conn, group: Group, window_start: dt.datetime | None = None, vote_hours: int = 72,
                      now: dt.datetime | None = None) -> dict:
    """This month's cycle: the window (the one asked for, or the best one: Claude choosing with the tools when a
    key is configured, else the deterministic planner), its five options, and the vote open."""
    now = now or _now()
    everyone = await membership.members(conn, group)
    venues = await city_venues(conn, group.city_id)
    assisted, served_by = None, DETERMINISTIC
    if window_start is None and AnthropicClient.available():
        assisted, served_by = await _assisted(conn, group, everyone, venues, now)
    if assisted is not None:
        start, attendees, options = assisted.window_start, assisted.attendees, assisted.options
    else:
        start, attendees = await _window(conn, group, window_start, now)
        coming = [m for m in everyone if m.user_id in attendees]
        window = OutingWindow(start, start + dt.timedelta(minutes=group.outing_minutes), group.tz)
        options = spectrum(venues, coming, window, history_of(group), group.aggregation)
    end = start + dt.timedelta(minutes=group.outing_minutes)
    month = month_of(start, group.tz)
    existing = await conn.fetchval("SELECT id FROM group_cycles WHERE group_id = $1 AND month = $2", group.id, month)
    if existing:
        raise Conflict(f"this group already has a cycle for {month:%B %Y} ({existing})", "window_start",
                       code="cycle_exists")
    deadline = max(now + MIN_VOTE, min(now + dt.timedelta(hours=vote_hours), start - VOTE_BEFORE_OUTING))
    poll = Poll.propose("pending", options, [m.user_id for m in everyone], deadline).open()
    cid = "cyc_" + secrets.token_hex(8)
    await conn.execute(
        """INSERT INTO group_cycles (id, group_id, month, status, window_start, window_end, attendees, deadline,
                                     options, served_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        cid, group.id, month, poll.status.value, start, end, attendees, deadline, [option_json(o) for o in options],
        served_by)
    return await cycle_view(conn, group, cid)


async def _assisted(conn, group: Group, everyone: list[Member], venues: list, now: dt.datetime):
    """(the plan Claude chose with the tools, SERVED_BY), or (None, why the deterministic planner serves)."""
    since = now + LEAD
    busy, _unreadable = await calendars.busy_of_members(conn, group, since, since + dt.timedelta(weeks=SEARCH_WEEKS))
    inputs = PlanningInputs(everyone, busy, venues, group.tz, history_of(group), group.aggregation, group.quorum,
                            group.outing_minutes, since, SEARCH_WEEKS)
    try:
        return await asyncio.to_thread(plan_with_tools, inputs, AnthropicClient()), assistant.SERVED_BY
    except (AssistantFailed, AnthropicUnavailable) as exc:
        log.warning("group %s: the LLM planner failed, the deterministic planner serves: %s", group.id, exc)
        return None, f"{DETERMINISTIC} (the LLM planner failed: {str(exc)[:160]})"


async def record_failed_cycle(conn, group: Group, month: dt.date, reason: str, now: dt.datetime) -> str:
    """A month without a plan, and why (the monthly job's other outcome)."""
    cid = "cyc_" + secrets.token_hex(8)
    await conn.execute(
        "INSERT INTO group_cycles (id, group_id, month, status, deadline, reason) VALUES ($1, $2, $3, 'proposed', $4, $5)"
        " ON CONFLICT (group_id, month) DO NOTHING", cid, group.id, month, now, reason)
    return cid


# --- voting and closing ---------------------------------------------------------------------------------------
async def _cycle_row(conn, group: Group, cycle_id: str, lock: bool = False):
    row = await conn.fetchrow("SELECT * FROM group_cycles WHERE id = $1 AND group_id = $2"
                              + (" FOR UPDATE" if lock else ""), cycle_id, group.id)
    if row is None:
        raise NotFound("no such cycle in this group", "cycle_id")
    return row


async def _poll(conn, group: Group, row) -> Poll:
    if not row["options"]:
        raise Conflict(f"this cycle has no options: {row['reason']}", "cycle_id", code="no_plan")
    members = [r["user_id"] for r in await conn.fetch(
        "SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY joined_at, user_id", group.id)]
    ballots = {r["user_id"]: frozenset(r["approvals"]) for r in await conn.fetch(
        "SELECT user_id, approvals FROM group_votes WHERE cycle_id = $1", row["id"]) if r["user_id"] in members}
    options = [option_from_json(o) for o in row["options"]]
    return Poll(row["id"], tuple(members), row["deadline"], tuple(o.least_satisfaction for o in options),
                Status(row["status"]), ballots, row["winner"], row["reason"])


async def vote(conn, group: Group, cycle_id: str, user: str, approve: list[int], now: dt.datetime | None = None) -> dict:
    now = now or _now()
    async with conn.transaction():
        row = await _cycle_row(conn, group, cycle_id, lock=True)
        poll = (await _poll(conn, group, row)).vote(user, approve, now)
        await conn.execute("INSERT INTO group_votes (cycle_id, user_id, approvals, voted_at) VALUES ($1, $2, $3, $4) "
                           "ON CONFLICT (cycle_id, user_id) DO UPDATE SET approvals = EXCLUDED.approvals, "
                           "voted_at = EXCLUDED.voted_at", cycle_id, user, sorted(poll.ballots[user]), now)
    return {"cycle_id": cycle_id, "approve": sorted(poll.ballots[user]), "tally": list(poll.tally()),
            "deadline": poll.deadline.isoformat()}


def _carpools(option: Option, coming: list[Member]) -> CarpoolPlan | None:
    placed = [m for m in coming if m.home is not None]
    if not placed:
        return None
    first = option.stops[0]
    return plan_carpools(placed, (first.lat, first.lon), first.start)


def _carpool_json(plan: CarpoolPlan | None, members: list[Member]) -> dict:
    if plan is None:
        return {"routes": [], "on_their_own": [], "total_detour_min": 0, "lines": {},
                "note": "nobody in the group has a home location: no carpools"}
    return {"routes": [{"driver": r.driver_id, "leave_at": r.leave_at.isoformat(), "arrive_at": r.arrive_at.isoformat(),
                        "pickups": [{"user_id": p.user_id, "at": p.at.isoformat()} for p in r.pickups],
                        "detour_min": r.detour_min, "line": r.line()} for r in plan.routes],
            "on_their_own": [{"user_id": u.user_id, "mode": u.mode, "minutes": u.minutes, "km": u.km,
                              "leave_at": u.leave_at.isoformat()} for u in plan.unassigned],
            "total_detour_min": plan.total_detour_min,
            "lines": {m.user_id: plan.line_for(m.user_id) for m in members}}


async def close(conn, group: Group, cycle_id: str, now: dt.datetime | None = None) -> dict:
    """Close the vote (at or after the deadline, or once everyone voted): the winner, its carpools, and from
    then on an invitation per member."""
    now = now or _now()
    async with conn.transaction():
        row = await _cycle_row(conn, group, cycle_id, lock=True)
        poll = (await _poll(conn, group, row)).close(now)
        option = option_from_json(row["options"][poll.winner])
        everyone = await membership.members(conn, group)
        coming = [m for m in everyone if m.user_id in row["attendees"]]
        carpools = _carpool_json(_carpools(option, coming), everyone)
        await conn.execute("UPDATE group_cycles SET status = $2, winner = $3, reason = $4, carpools = $5, "
                           "closed_at = $6 WHERE id = $1", cycle_id, poll.status.value, poll.winner, poll.reason,
                           carpools, now)
    return await cycle_view(conn, group, cycle_id)


async def invitation(conn, group: Group, cycle_id: str, user: str) -> bytes:
    row = await _cycle_row(conn, group, cycle_id)
    if row["status"] not in ("closed", "happened", "reviewed") or row["winner"] is None:
        raise Conflict("the plan is not closed yet: invitations come with the closed plan", "cycle_id",
                       code="not_closed")
    option = option_from_json(row["options"][row["winner"]])
    me = next(m for m in await membership.members(conn, group) if m.user_id == user)
    line = (row["carpools"] or {}).get("lines", {}).get(user, "")  # the plan as closed: no second solve
    return invites.invitation(group.id, cycle_id, option, summary=invites.outing_summary(group.name, option),
                              travel_line=line, issued_at=row["closed_at"], attendee_name=me.display_name)


# --- after the outing -----------------------------------------------------------------------------------------
async def retrospective(conn, group: Group, cycle_id: str, user: str, rating: int, venue_ratings: dict[str, int],
                        attended: list[str], now: dt.datetime | None = None) -> dict:
    """A member's review. It becomes signals (published after the transaction), moves the member's tag weights
    and the group's history, so the next cycle's safe option leans toward what worked."""
    now = now or _now()
    async with conn.transaction():
        row = await _cycle_row(conn, group, cycle_id, lock=True)
        status = Status(row["status"])
        if status not in (Status.CLOSED, Status.HAPPENED, Status.REVIEWED) or row["winner"] is None:
            raise Conflict(f"the cycle is {status.value}: reviews come after the outing", "cycle_id",
                           code="not_happened")
        if now < row["window_start"]:
            raise Conflict(f"the outing starts {row['window_start'].isoformat()}; review it afterwards", "cycle_id",
                           code="not_happened")
        members = {m.user_id: m for m in await membership.members(conn, group)}
        unknown = [u for u in attended if u not in members]
        if unknown:
            raise InvalidRequest(f"{unknown[0]} is not a member of this group", "attended")
        option = option_from_json(row["options"][row["winner"]])
        review = Review(user, rating, venue_ratings)
        venues = {vid: candidate_from_row(r) for vid, r in (await fetch_rows(conn, list(option.venue_ids))).items()}
        prefs = updated_preferences(members[user].preferences, review, option, venues)  # checks the venue ids
        await conn.execute("INSERT INTO group_retrospectives (cycle_id, user_id, rating, venue_ratings, attended, "
                           "created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (cycle_id, user_id) DO UPDATE "
                           "SET rating = EXCLUDED.rating, venue_ratings = EXCLUDED.venue_ratings, "
                           "attended = EXCLUDED.attended, created_at = EXCLUDED.created_at",
                           cycle_id, user, rating, venue_ratings, sorted(set(attended) | {user}), now)
        await conn.execute("UPDATE group_members SET preferences = $3 WHERE group_id = $1 AND user_id = $2",
                           group.id, user, prefs)
        reviews_rows = await conn.fetch("SELECT * FROM group_retrospectives WHERE cycle_id = $1", cycle_id)
        reviews = [Review(r["user_id"], r["rating"], dict(r["venue_ratings"])) for r in reviews_rows]
        came = sorted({u for r in reviews_rows for u in r["attended"]})
        history = updated_history(history_of(group), option, reviews, came)
        await conn.execute("UPDATE groups SET history = $2 WHERE id = $1", group.id, _history_json(history))
        poll = await _poll(conn, group, row)
        if poll.status is Status.CLOSED:
            poll = poll.mark_happened()
        if poll.status is Status.HAPPENED and {r["user_id"] for r in reviews_rows} >= set(came):
            poll = poll.mark_reviewed()
        await conn.execute("UPDATE group_cycles SET status = $2 WHERE id = $1", cycle_id, poll.status.value)
    signals = signal_records(cycle_id, option, [review], sorted(set(attended) | {user}), now)
    return {"cycle_id": cycle_id, "status": poll.status.value, "signals": signals,
            "preferences": {k: v for k, v in sorted(prefs.items())}}


# --- the view -------------------------------------------------------------------------------------------------
async def cycle_view(conn, group: Group, cycle_id: str) -> dict:
    row = await _cycle_row(conn, group, cycle_id)
    tally = None
    if row["options"]:
        tally = list((await _poll(conn, group, row)).tally())
    return {"id": row["id"], "group_id": group.id, "month": row["month"].isoformat(), "status": row["status"],
            "window": ({"start": row["window_start"].isoformat(), "end": row["window_end"].isoformat()}
                       if row["window_start"] else None),
            "attendees": list(row["attendees"]), "deadline": row["deadline"].isoformat(),
            "options": list(row["options"]), "tally": tally, "winner": row["winner"], "reason": row["reason"],
            "carpools": row["carpools"], "served_by": row["served_by"]}

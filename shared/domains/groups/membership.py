"""Groups and who is in them: create a group, hand out invitation codes, join, describe yourself, leave or be
removed.

Rules:
- only members can read or change a group. To anyone else a group does not exist (404 on `group_id`), so ids
  cannot be probed;
- an invitation code works for INVITE_TTL and for any number of people (a group shares it in its chat); joining
  twice is a conflict, not a second membership;
- only the owner removes others; anyone may leave; the owner cannot leave a group that still has members (they
  would orphan it) and deleting their account deletes the group;
- a home is coordinates, or an address or place name that the city's catalogue can place (a venue's name or
  address); an address it cannot place is refused rather than guessed.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.domains.errors import Conflict, Forbidden, InvalidRequest, NotFound
from shared.domains.groups.schemas import GroupCreate, MemberProfile
from shared.domains.groups.spectrum import Member
from shared.domains.travel.trips import store as trip_store
from shared.domains.travel.trips.daymodel import local_times
from shared.domains.travel.trips.tags import TagError, parse_tags

INVITE_TTL = dt.timedelta(days=14)
CODE_BYTES = 9                 # 12 url-safe characters
MAX_MEMBERS = 12
COUNTRY_ZONES = {"FR": "Europe/Paris", "KR": "Asia/Seoul"}
# The US spans four zones: by longitude, which is right for every catalogue city (Arizona aside).
US_ZONES = ((-114.5, "America/Los_Angeles"), (-101.0, "America/Denver"), (-87.5, "America/Chicago"))


class GroupNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("no group with this id among your groups", "group_id")


@dataclass(frozen=True)
class Group:
    id: str
    owner_id: str
    name: str
    city_id: str
    tz: ZoneInfo
    quorum: int
    monthly_budget: float
    aggregation: str
    outing_minutes: int
    active: bool
    history: dict


def city_zone(city_id: str, lon: float | None) -> ZoneInfo:
    """The city's time zone: venue hours and outing times are local to it."""
    country = local_times(city_id).country
    if country in COUNTRY_ZONES:
        return ZoneInfo(COUNTRY_ZONES[country])
    for west_of, zone in US_ZONES:
        if lon is not None and lon < west_of:
            return ZoneInfo(zone)
    return ZoneInfo("America/New_York")


def zone(name: str | None, fallback: ZoneInfo, field: str) -> ZoneInfo:
    if not name:
        return fallback
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest(f"unknown time zone {name!r}; use an IANA name such as Europe/Paris", field) from None


def _group(row) -> Group:
    return Group(row["id"], row["owner_id"], row["name"], row["city_id"], ZoneInfo(row["timezone"]), row["quorum"],
                 float(row["monthly_budget"]), row["aggregation"], row["outing_minutes"], row["active"],
                 row["history"] or {})


async def load_group(conn, group_id: str, user: str) -> Group:
    """The group, when `user` is a member; GroupNotFound otherwise (whether or not it exists)."""
    row = await conn.fetchrow(
        "SELECT g.* FROM groups g JOIN group_members m ON m.group_id = g.id WHERE g.id = $1 AND m.user_id = $2",
        group_id, user)
    if row is None:
        raise GroupNotFound()
    return _group(row)


async def load_group_any(conn, group_id: str) -> Group:
    """For jobs, which act for the group rather than for one member."""
    row = await conn.fetchrow("SELECT * FROM groups WHERE id = $1", group_id)
    if row is None:
        raise GroupNotFound()
    return _group(row)


async def _place(conn, city_id: str, profile: MemberProfile, field: str) -> tuple[float | None, float | None, str | None]:
    home = profile.home
    if home is None:
        return None, None, None
    if home.lat is not None:
        return home.lat, home.lon, home.address
    text = home.address.strip()
    row = await conn.fetchrow(
        "SELECT lat, lon FROM activity_nodes WHERE city_id = $1 AND lat IS NOT NULL AND "
        "(lower(name) = lower($2) OR lower(address) = lower($2)) ORDER BY source_tier LIMIT 1", city_id, text)
    if row is None:
        raise InvalidRequest(f"the catalogue cannot place {text!r} in {city_id}; give lat and lon instead",
                             f"{field}.home.address")
    return row["lat"], row["lon"], text


def _preferences(profile: MemberProfile, field: str) -> dict[str, float]:
    try:
        tags = parse_tags(profile.tags, f"{field}.tags")
    except TagError as exc:
        raise InvalidRequest(str(exc), exc.field) from None
    return {t: 1.0 for t in tags.all}


async def _upsert_member(conn, group: Group, user: str, role: str, profile: MemberProfile, field: str) -> None:
    lat, lon, label = await _place(conn, group.city_id, profile, field)
    member_zone = zone(profile.timezone, group.tz, f"{field}.timezone")
    await conn.execute(
        """INSERT INTO group_members (group_id, user_id, role, display_name, home_lat, home_lon, home_label, seats,
                                      diet, access, budget, timezone, preferences)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb)
           ON CONFLICT (group_id, user_id) DO UPDATE SET display_name = EXCLUDED.display_name,
               home_lat = EXCLUDED.home_lat, home_lon = EXCLUDED.home_lon, home_label = EXCLUDED.home_label,
               seats = EXCLUDED.seats, diet = EXCLUDED.diet, access = EXCLUDED.access, budget = EXCLUDED.budget,
               timezone = EXCLUDED.timezone,
               preferences = EXCLUDED.preferences""",
        group.id, user, role, profile.display_name, lat, lon, label, profile.seats, list(profile.diet),
        list(profile.access), profile.budget, member_zone.key, _preferences(profile, field))


async def create_group(conn, owner: str, body: GroupCreate, city_id: str, city_lon: float | None) -> dict:
    await trip_store.ensure_user(conn, owner)
    tz = city_zone(city_id, city_lon)
    gid = "grp_" + secrets.token_hex(8)
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO groups (id, owner_id, name, city_id, timezone, quorum, monthly_budget, aggregation, "
            "outing_minutes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            gid, owner, body.name.strip(), city_id, tz.key, body.quorum, body.monthly_budget, body.aggregation,
            body.outing_minutes)
        group = await load_group_any(conn, gid)
        await _upsert_member(conn, group, owner, "owner", body.me, "me")
        invite = await _new_invite(conn, gid, owner)
    return {**await group_view(conn, group, owner), "invite": invite}


async def _new_invite(conn, group_id: str, user: str) -> dict:
    code = secrets.token_urlsafe(CODE_BYTES)
    expires = dt.datetime.now(dt.timezone.utc) + INVITE_TTL
    await conn.execute("INSERT INTO group_invites (code, group_id, created_by, expires_at) VALUES ($1, $2, $3, $4)",
                       code, group_id, user, expires)
    return {"code": code, "expires_at": expires.isoformat()}


async def create_invite(conn, group: Group, user: str) -> dict:
    return await _new_invite(conn, group.id, user)


async def join(conn, code: str, user: str, profile: MemberProfile) -> dict:
    await trip_store.ensure_user(conn, user)
    async with conn.transaction():
        row = await conn.fetchrow("SELECT group_id FROM group_invites WHERE code = $1 AND expires_at > now()", code)
        if row is None:
            raise NotFound("no open invitation with this code (it may have expired); ask a member for a new one",
                           "code")
        group = await load_group_any(conn, row["group_id"])
        # the row lock serialises joins to one group, so MAX_MEMBERS holds under concurrent joins
        await conn.execute("SELECT 1 FROM groups WHERE id = $1 FOR UPDATE", group.id)
        members = await conn.fetch("SELECT user_id FROM group_members WHERE group_id = $1", group.id)
        if any(m["user_id"] == user for m in members):
            raise Conflict("you are already a member of this group", "code")
        if len(members) >= MAX_MEMBERS:
            raise Conflict(f"this group is full ({MAX_MEMBERS} members)", "code")
        await _upsert_member(conn, group, user, "member", profile, "me")
    return await group_view(conn, group, user)


async def update_me(conn, group: Group, user: str, profile: MemberProfile) -> dict:
    role = await conn.fetchval("SELECT role FROM group_members WHERE group_id = $1 AND user_id = $2", group.id, user)
    async with conn.transaction():
        await _upsert_member(conn, group, user, role, profile, "body")
    return await group_view(conn, group, user)


async def remove_member(conn, group: Group, caller: str, user_id: str) -> None:
    if user_id != caller and caller != group.owner_id:
        raise Forbidden("only the group's owner can remove other members", "user_id")
    if user_id == group.owner_id:
        raise Conflict("the owner cannot leave a group that has members; remove them first", "user_id")
    await conn.execute("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2", group.id, user_id)


async def members(conn, group: Group) -> list[Member]:
    """The planning view of every member (spectrum.Member): a member's budget is the lower of their own and the
    group's monthly budget per person."""
    rows = await conn.fetch("SELECT * FROM group_members WHERE group_id = $1 ORDER BY joined_at, user_id", group.id)
    out = []
    for r in rows:
        own = r["budget"]
        budget = group.monthly_budget if own is None else min(group.monthly_budget, float(own))
        home = (r["home_lat"], r["home_lon"]) if r["home_lat"] is not None else None
        out.append(Member(r["user_id"], dict(r["preferences"] or {}), frozenset(r["diet"]), frozenset(r["access"]), budget, home, r["seats"],
                          r["display_name"]))
    return out


async def member_zones(conn, group: Group) -> dict[str, ZoneInfo]:
    rows = await conn.fetch("SELECT user_id, timezone FROM group_members WHERE group_id = $1", group.id)
    return {r["user_id"]: ZoneInfo(r["timezone"]) if r["timezone"] else group.tz for r in rows}


async def group_view(conn, group: Group, viewer: str) -> dict:
    """The group as a member sees it: everyone's name, role, whether they drive and where they start from is
    shared with the group (carpools need it); diets and budgets only in aggregate."""
    rows = await conn.fetch("SELECT * FROM group_members WHERE group_id = $1 ORDER BY joined_at, user_id", group.id)
    cal = {r["user_id"]: r["source"] for r in await conn.fetch(
        "SELECT user_id, source FROM group_calendars WHERE group_id = $1", group.id)}
    return {
        "id": group.id, "name": group.name, "city": group.city_id, "timezone": group.tz.key, "owner": group.owner_id,
        "quorum": group.quorum, "monthly_budget": group.monthly_budget, "aggregation": group.aggregation,
        "outing_minutes": group.outing_minutes, "active": group.active,
        "members": [{"user_id": r["user_id"], "display_name": r["display_name"], "role": r["role"],
                     "you": r["user_id"] == viewer, "seats": r["seats"],
                     "home": ({"lat": r["home_lat"], "lon": r["home_lon"], "label": r["home_label"]}
                              if r["home_lat"] is not None else None),
                     "calendar": cal.get(r["user_id"])} for r in rows],
        "diets": sorted({d for r in rows for d in r["diet"]}),
    }

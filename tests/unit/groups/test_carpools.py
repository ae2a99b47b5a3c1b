"""Carpools: seats and the detour limit hold, times add up to the arrival, and whoever cannot be placed gets a
transit estimate."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from shared.domains.errors import InvalidRequest
from shared.domains.groups.carpools import PICKUP_MIN, drive_min, plan_carpools
from shared.domains.groups.spectrum import Member
from shared.domains.travel.trips.geo import leg
from tests.unit.groups.venues import BASE, SEATTLE, members

ARRIVE = dt.datetime(2031, 6, 7, 18, 0, tzinfo=SEATTLE)
LINE = re.compile(r"^leave at \d\d:\d\d(, pick up [A-Za-z]+ \d\d:\d\d(, [A-Za-z]+ \d\d:\d\d)*)?, arrive \d\d:\d\d$")


def homes(group):
    return {m.user_id: m.home for m in group}


def check_times(plan, group, max_detour):
    home = homes(group)
    for route in plan.routes:
        assert route.arrive_at == ARRIVE and LINE.match(route.line()), route.line()
        assert len(route.pickups) <= route.seats
        # the route's clock: drive to each pickup, 2 minutes to get in, then on
        t, here = route.leave_at, home[route.driver_id]
        for p in route.pickups:
            t += dt.timedelta(minutes=drive_min(here, home[p.user_id]))
            assert p.at == t
            t += dt.timedelta(minutes=PICKUP_MIN)
            here = home[p.user_id]
        assert t + dt.timedelta(minutes=drive_min(here, BASE)) == ARRIVE
        for uid, detour in route.detour_min.items():
            assert 0 <= detour <= max_detour, (uid, detour)


def test_everyone_is_placed_within_seats_and_detour():
    group = members()
    plan = plan_carpools(group, BASE, ARRIVE, max_detour_min=20)
    riders = {p.user_id for r in plan.routes for p in r.pickups}
    assert riders == {"ana", "cara"} and plan.unassigned == ()
    assert {r.driver_id for r in plan.routes} == {"ben", "dev"}
    check_times(plan, group, 20)
    assert plan.total_detour_min == sum(r.detour_min[r.driver_id] for r in plan.routes)


def test_seats_run_out_and_the_rest_travel_on_their_own():
    group = [m if m.user_id != "ben" else Member(**{**m.__dict__, "seats": 0}) for m in members()]
    plan = plan_carpools(group, BASE, ARRIVE)
    (route,) = plan.routes
    assert route.driver_id == "dev" and len(route.pickups) == 1
    alone = sorted(u.user_id for u in plan.unassigned)
    assert len(alone) == 2 and set(alone) | {route.pickups[0].user_id} == {"ana", "ben", "cara"}
    assert all(u.mode in ("walk", "transit") and u.minutes > 0 for u in plan.unassigned)
    check_times(plan, group, 20)


def test_a_rider_too_far_off_every_route_gets_a_transit_estimate():
    group = members() + [Member("eve", home=(47.75, -122.10), name="Eve")]
    plan = plan_carpools(group, BASE, ARRIVE, max_detour_min=20)
    (eve,) = [u for u in plan.unassigned if u.user_id == "eve"]
    km, minutes, mode = leg((47.75, -122.10), BASE)
    assert (eve.mode, eve.minutes) == (mode, minutes) == ("transit", minutes)
    assert eve.leave_at == ARRIVE - dt.timedelta(minutes=minutes)
    assert plan.line_for("eve").startswith(f"On your own: about {minutes} min by transit")
    check_times(plan, group, 20)


def test_a_tight_detour_limit_is_respected():
    group = members()
    plan = plan_carpools(group, BASE, ARRIVE, max_detour_min=3)
    check_times(plan, group, 3)
    assert "cara" in {u.user_id for u in plan.unassigned}     # nobody passes her door for 3 minutes' detour


def test_the_rider_on_the_way_goes_with_the_driver_whose_way_it_is():
    north, south = (47.66, -122.33), (47.56, -122.33)
    group = [Member("n", home=north, seats=1, name="North"), Member("s", home=south, seats=1, name="South"),
             Member("r", home=(47.64, -122.33), name="Rider")]
    plan = plan_carpools(group, BASE, ARRIVE)
    by_driver = {r.driver_id: [p.user_id for p in r.pickups] for r in plan.routes}
    assert by_driver == {"n": ["r"], "s": []}
    assert plan.line_for("r").startswith("North picks you up at ")
    assert plan.line_for("n").startswith("You drive: leave at ")


def test_without_drivers_everyone_travels_alone_and_nothing_is_solved():
    group = [Member(m.user_id, home=m.home, name=m.name) for m in members()]
    plan = plan_carpools(group, BASE, ARRIVE)
    assert plan.routes == () and [u.user_id for u in plan.unassigned] == ["ana", "ben", "cara", "dev"]


def test_deterministic():
    group = members() + [Member("eve", home=(47.63, -122.31), name="Eve")]
    assert plan_carpools(group, BASE, ARRIVE) == plan_carpools(group, BASE, ARRIVE)


def test_a_member_without_a_home_is_a_400_naming_the_field():
    group = members() + [Member("eve", name="Eve")]
    with pytest.raises(InvalidRequest) as err:
        plan_carpools(group, BASE, ARRIVE)
    assert err.value.field == "members[4].home"

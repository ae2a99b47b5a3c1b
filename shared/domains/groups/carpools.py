"""Who drives whom: members with a car pick up members without one on the way to the first venue.

Why OR-Tools routing (pywrapcp) rather than CP-SAT: a carpool is a pickup-and-delivery problem with vehicle
capacities, the routing library's native model (pickup/delivery pairs, a capacity dimension, a time dimension,
optional visits through disjunctions), and its greedy descent reaches a local optimum in milliseconds for a
friend group. CP-SAT would need the routes, the subtour elimination and the timing spelt out by hand. The 2 s
time limit is a guard only: GREEDY_DESCENT stops at its local optimum long before it, so the answer does not
depend on the machine's speed, and the model is built in member order, so the same input gives the same plan.

The model: every member with seats drives from home to the venue (a vehicle); every member without seats is a
pickup at home and a drop-off at the venue, one seat each way. Minimised: the drivers' total time, which is their
total detour plus a constant (everyone's direct drive). Bounded: nobody in a car, driver or rider, spends more
than `max_detour_min` longer than driving straight there themselves. A rider who cannot be placed within that
(or when the seats run out) travels alone, with a transit estimate.

Times, without network calls:
- driving: haversine distance × ROAD_FACTOR 1.3 (streets are not straight) at DRIVE_KMH 30 (urban average,
  lights and parking included), plus PICKUP_MIN 2 at each pickup;
- alone: geo.leg, the trips domain's estimate: walking up to 2 km at 4.5 km/h, beyond that transit at about
  20 km/h after the first 2 km (27 minutes + 3 per further km).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.domains.errors import InvalidRequest
from shared.domains.groups.spectrum import Member
from shared.domains.travel.trips.geo import haversine_km, leg

ROAD_FACTOR = 1.3
DRIVE_KMH = 30.0
PICKUP_MIN = 2
MAX_DETOUR_MIN = 20
TIME_LIMIT_S = 2.0
UNPLACED_PENALTY = 100_000     # minutes: a placed rider always beats any detour
HORIZON_MIN = 24 * 60


def drive_min(a: tuple[float, float], b: tuple[float, float]) -> int:
    return int(round(haversine_km(a, b) * ROAD_FACTOR / DRIVE_KMH * 60))


@dataclass(frozen=True)
class Pickup:
    user_id: str
    name: str
    at: dt.datetime


@dataclass(frozen=True)
class CarRoute:
    driver_id: str
    driver_name: str
    leave_at: dt.datetime
    pickups: tuple[Pickup, ...]
    arrive_at: dt.datetime
    seats: int
    detour_min: dict[str, int] = field(default_factory=dict)   # everyone in the car, driver included

    def line(self) -> str:
        """"leave at 18:05, pick up Ana 18:15, Ben 18:22, arrive 18:40"."""
        parts = [f"leave at {self.leave_at:%H:%M}"]
        if self.pickups:
            parts.append("pick up " + ", ".join(f"{p.name} {p.at:%H:%M}" for p in self.pickups))
        parts.append(f"arrive {self.arrive_at:%H:%M}")
        return ", ".join(parts)


@dataclass(frozen=True)
class OnTheirOwn:
    """A member travelling alone: no car and no seat within the detour limit."""
    user_id: str
    name: str
    mode: str           # walk | transit (geo.leg)
    minutes: int
    km: float
    leave_at: dt.datetime


@dataclass(frozen=True)
class CarpoolPlan:
    routes: tuple[CarRoute, ...]
    unassigned: tuple[OnTheirOwn, ...]
    total_detour_min: int          # the drivers' extra minutes over driving straight there: what is minimised

    def line_for(self, user_id: str) -> str:
        """The member's own travel line (for the invitation); empty when they are not in the plan."""
        for r in self.routes:
            if r.driver_id == user_id:
                return "You drive: " + r.line()
            for p in r.pickups:
                if p.user_id == user_id:
                    return f"{r.driver_name} picks you up at {p.at:%H:%M} (arrive {r.arrive_at:%H:%M})"
        for u in self.unassigned:
            if u.user_id == user_id:
                return f"On your own: about {u.minutes} min by {u.mode}, leave by {u.leave_at:%H:%M}"
        return ""


def _home(m: Member, i: int) -> tuple[float, float]:
    if m.home is None:
        raise InvalidRequest(f"{m.user_id} needs a home location to share a ride", f"members[{i}].home")
    return (float(m.home[0]), float(m.home[1]))


def _alone(m: Member, home: tuple[float, float], venue: tuple[float, float], arrive_at: dt.datetime) -> OnTheirOwn:
    km, minutes, mode = leg(home, venue)
    return OnTheirOwn(m.user_id, m.display_name, mode, minutes, round(km or 0.0, 2),
                      arrive_at - dt.timedelta(minutes=minutes))


def plan_carpools(members: Sequence[Member], venue: tuple[float, float], arrive_at: dt.datetime,
                  max_detour_min: int = MAX_DETOUR_MIN, time_limit_s: float = TIME_LIMIT_S) -> CarpoolPlan:
    """Routes that bring everyone who comes to `venue` by `arrive_at` (aware), least total detour first."""
    if arrive_at.tzinfo is None:
        raise InvalidRequest("the arrival time needs a time zone", "arrive_at")
    homes = [_home(m, i) for i, m in enumerate(members)]
    drivers = [i for i, m in enumerate(members) if m.seats > 0]
    riders = [i for i, m in enumerate(members) if m.seats <= 0]
    if not drivers:
        return CarpoolPlan((), tuple(_alone(members[i], homes[i], venue, arrive_at) for i in riders), 0)

    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    # nodes: 0 the venue (every car's end), then each driver's home, then per rider a pickup and a drop-off
    where = [venue] + [homes[i] for i in drivers]
    pickup_node, drop_node = {}, {}
    for r in riders:
        pickup_node[r] = len(where)
        where.append(homes[r])
        drop_node[r] = len(where)
        where.append(venue)
    pickups = set(pickup_node.values())
    n = len(where)
    matrix = [[drive_min(where[a], where[b]) + (PICKUP_MIN if a in pickups and a != b else 0) for b in range(n)]
              for a in range(n)]
    manager = pywrapcp.RoutingIndexManager(n, len(drivers), [1 + k for k in range(len(drivers))], [0] * len(drivers))
    routing = pywrapcp.RoutingModel(manager)
    time_cb = routing.RegisterTransitCallback(
        lambda a, b: matrix[manager.IndexToNode(a)][manager.IndexToNode(b)])
    routing.SetArcCostEvaluatorOfAllVehicles(time_cb)
    routing.AddDimension(time_cb, 0, HORIZON_MIN, True, "time")   # no waiting; every car starts at 0
    time = routing.GetDimensionOrDie("time")
    load_cb = routing.RegisterUnaryTransitCallback(
        lambda a: 1 if manager.IndexToNode(a) in pickups else -1 if manager.IndexToNode(a) in drop_node.values() else 0)
    routing.AddDimensionWithVehicleCapacity(load_cb, 0, [members[i].seats for i in drivers], True, "seats")

    solver = routing.solver()
    drop_indices = [manager.NodeToIndex(drop_node[r]) for r in riders]
    pickup_indices = [manager.NodeToIndex(pickup_node[r]) for r in riders]
    for r in riders:
        p, d = manager.NodeToIndex(pickup_node[r]), manager.NodeToIndex(drop_node[r])
        routing.AddPickupAndDelivery(p, d)
        solver.Add(routing.VehicleVar(p) == routing.VehicleVar(d))
        solver.Add(time.CumulVar(p) <= time.CumulVar(d))
        solver.Add(time.CumulVar(d) - time.CumulVar(p) <= drive_min(homes[r], venue) + max_detour_min)
        routing.AddDisjunction([p], UNPLACED_PENALTY)
        routing.AddDisjunction([d], UNPLACED_PENALTY)
        routing.NextVar(d).RemoveValues(pickup_indices)   # once at the venue, a car does not go back out
    for k, i in enumerate(drivers):
        solver.Add(time.CumulVar(routing.End(k)) <= drive_min(homes[i], venue) + max_detour_min)
        routing.NextVar(routing.Start(k)).RemoveValues(drop_indices)   # a drop-off follows its pickup

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    params.time_limit.FromMilliseconds(int(time_limit_s * 1000))
    solution = routing.SolveWithParameters(params)
    if solution is None:  # only when even empty cars break a bound, which a direct drive never does
        raise InvalidRequest("no carpool plan fits the detour limit", "max_detour_min")

    rider_of_pickup = {node: r for r, node in pickup_node.items()}
    routes, placed, total = [], set(), 0
    for k, i in enumerate(drivers):
        index = routing.Start(k)
        stops: list[tuple[int, int]] = []   # (rider, minutes after leaving)
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            if node in rider_of_pickup:
                stops.append((rider_of_pickup[node], solution.Value(time.CumulVar(index))))
            index = solution.Value(routing.NextVar(index))
        duration = solution.Value(time.CumulVar(index))
        leave = arrive_at - dt.timedelta(minutes=duration)
        detours = {members[i].user_id: duration - drive_min(homes[i], venue)}
        for r, at in stops:
            detours[members[r].user_id] = duration - at - drive_min(homes[r], venue)
            placed.add(r)
        total += detours[members[i].user_id]
        routes.append(CarRoute(members[i].user_id, members[i].display_name, leave,
                               tuple(Pickup(members[r].user_id, members[r].display_name,
                                            leave + dt.timedelta(minutes=at)) for r, at in stops),
                               arrive_at, members[i].seats, detours))
    unassigned = tuple(_alone(members[r], homes[r], venue, arrive_at) for r in riders if r not in placed)
    return CarpoolPlan(tuple(routes), unassigned, total)

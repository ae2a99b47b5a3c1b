"""Geography for itineraries: distances, areas (k-means over coordinates) and stop ordering with OR-Tools.

Ordering is a small vehicle-routing problem with time windows: one walker leaves the day's area centre,
visits every chosen stop inside its day part's window (morning stops before noon, bars after five),
spends a visit duration at each, and minimises travel. OR-Tools solves it exactly enough in
milliseconds; when the windows cannot all be met (long hops) we fall back to day-part order.
"""
from __future__ import annotations

import math

import numpy as np

EARTH_KM = 6371.0
VISIT_MIN = 75
DAY_START_H = 8.0


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1 = map(math.radians, a)
    lat2, lon2 = map(math.radians, b)
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


WALK_KMH = 4.5
WALK_MAX_KM = 2.0          # longer legs are a transit estimate (see leg)
UNKNOWN_LEG_MIN = 15       # a stop without coordinates: a guess, never zero


def leg(a: tuple[float, float] | None, b: tuple[float, float] | None) -> tuple[float | None, int, str]:
    """(km, minutes, mode) from a to b: walking up to WALK_MAX_KM, a transit estimate beyond."""
    if a is None or b is None:
        return None, UNKNOWN_LEG_MIN, "unknown"
    km = haversine_km(a, b)
    if km <= WALK_MAX_KM:
        return km, (max(2, int(round(km / WALK_KMH * 60))) if km > 0.05 else 0), "walk"
    # transit: never quicker than walking the threshold distance, then ~3 minutes per further km
    return km, int(round(WALK_MAX_KM / WALK_KMH * 60 + 3 * (km - WALK_MAX_KM))), "transit"




def areas(points: np.ndarray, weights: np.ndarray, k: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """k area centres over (lat, lon) points, returned best-first by the total weight of their members,
    and each point's area index in that order."""
    from scipy.cluster.vq import kmeans2

    n = len(points)
    k = max(1, min(k, n))
    if k == 1:
        return points.mean(axis=0, keepdims=True), np.zeros(n, dtype=int)
    # scale longitude so a degree means the same distance on both axes
    scale = np.array([1.0, math.cos(math.radians(float(points[:, 0].mean())))])
    centres, labels = kmeans2(points * scale, k, minit="++", seed=seed)
    totals = np.array([weights[labels == i].sum() for i in range(k)])
    order = np.argsort(-totals)
    remap = np.empty(k, dtype=int)
    remap[order] = np.arange(k)
    return centres[order] / scale, remap[labels]


def order_stops(start: tuple[float, float] | None, stops: list[tuple[float, float] | None],
                windows: list[tuple[float, float]], visit_min: int | list[int] = VISIT_MIN,
                time_limit_ms: int = 30) -> tuple[list[int], list[int]] | None:
    """Visit order (indices into stops) and arrival minutes after DAY_START_H, or None if infeasible.

    `windows` are in hours of the day, `visit_min` one stay for all stops or one per stop. Stops without
    coordinates get zero travel time (we cannot do better than keep their window)."""
    stays = visit_min if isinstance(visit_min, list) else [visit_min] * len(stops)
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n = len(stops)
    if n == 0:
        return [], []
    coords = [start] + stops
    def dist_min(i: int, j: int) -> int:
        a, b = coords[i], coords[j]
        if a is None or b is None or i == j:
            return 0
        return leg(a, b)[1]

    matrix = [[dist_min(i, j) for j in range(n + 1)] for i in range(n + 1)]
    manager = pywrapcp.RoutingIndexManager(n + 1, 1, 0)
    routing = pywrapcp.RoutingModel(manager)

    def transit(from_index: int, to_index: int) -> int:
        i, j = manager.IndexToNode(from_index), manager.IndexToNode(to_index)
        return matrix[i][j] + (stays[i - 1] if i != 0 else 0)

    travel_cb = routing.RegisterTransitCallback(lambda a, b: matrix[manager.IndexToNode(a)][manager.IndexToNode(b)])
    routing.SetArcCostEvaluatorOfAllVehicles(travel_cb)
    time_cb = routing.RegisterTransitCallback(transit)
    horizon = int((24 + 4 - DAY_START_H) * 60)
    routing.AddDimension(time_cb, horizon, horizon, False, "time")  # waiting allowed (lunch, afternoon)
    dim = routing.GetDimensionOrDie("time")
    for node, (lo_h, hi_h) in enumerate(windows, start=1):
        lo = int((lo_h - DAY_START_H) * 60)
        hi = max(lo, int((hi_h - DAY_START_H) * 60))
        dim.CumulVar(manager.NodeToIndex(node)).SetRange(max(0, lo), hi)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    # greedy descent to a local optimum: exact enough for a handful of stops, and milliseconds, where a
    # metaheuristic would spend its whole time limit
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    params.time_limit.FromMilliseconds(time_limit_ms)
    solution = routing.SolveWithParameters(params)
    if solution is None:
        return None
    order, arrivals = [], []
    index = routing.Start(0)
    index = solution.Value(routing.NextVar(index))
    while not routing.IsEnd(index):
        node = manager.IndexToNode(index)
        order.append(node - 1)
        arrivals.append(solution.Min(dim.CumulVar(index)))
        index = solution.Value(routing.NextVar(index))
    return order, arrivals

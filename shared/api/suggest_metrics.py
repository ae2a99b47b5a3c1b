"""Prometheus metrics of the suggest function (POST /v1/suggest, POST /v1/events), and its alert rules.

`GET /metrics` (and `GET /v1/suggest/metrics` through the gateway) answers this registry. The same figures reach
Cloud Monitoring from the function's structured request log (one JSON line per request, logger
concierge.suggest), over which infra/pulumi/program.py declares log-based metrics and the alert policies built
from ALERT_RULES below; `python -m emulators.suggest_alerts` evaluates the same rules on a live /metrics. One
definition of each threshold, read by both.

Series:
- suggest_requests{route, status} and suggest_request_seconds{route}: traffic, errors (5xx) and latency;
- suggest_lists{surface, arm, served} with served = model | fallback: coverage = model / all;
- suggest_fallbacks{reason}: why a fallback served (bounded codes);
- suggest_impressions{surface, arm} and suggest_events{type, arm}: CTR = click events / impressions, conversion
  rate = conversions / impressions, per arm; suggest_accepted_lists{arm}: acceptance = lists with a click / lists
  (the list id rides in the impression id; each instance remembers the last 100,000 accepted lists, so a list
  clicked through two instances counts twice here; the evaluation report's acceptance, from Postgres, is exact);
- suggest_catalogue_items and suggest_items_shown: the catalogue share shown by this instance.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry()
REQUESTS = Counter("suggest_requests", "Requests by route and HTTP status", ["route", "status"], registry=REGISTRY)
LATENCY = Histogram("suggest_request_seconds", "Time in the function per route (parse to response)", ["route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0,
                             2.5), registry=REGISTRY)
LISTS = Counter("suggest_lists", "Suggestion lists served, by whether the model or the fallback ranked them",
                ["surface", "arm", "served"], registry=REGISTRY)
FALLBACKS = Counter("suggest_fallbacks", "Lists the rule fallback served, by reason", ["reason"], registry=REGISTRY)
IMPRESSIONS = Counter("suggest_impressions", "Items served (one impression each)", ["surface", "arm"],
                      registry=REGISTRY)
IMPRESSIONS_UNPUBLISHED = Counter("suggest_impressions_unpublished", "Impressions Pub/Sub did not take",
                                  registry=REGISTRY)
EVENTS = Counter("suggest_events", "Events accepted by POST /v1/events", ["type", "arm"], registry=REGISTRY)
ACCEPTED_LISTS = Counter("suggest_accepted_lists", "Suggestion lists with at least one click", ["arm"],
                         registry=REGISTRY)
CATALOGUE_ITEMS = Gauge("suggest_catalogue_items", "Items in the suggestion catalogue", registry=REGISTRY)
ITEMS_SHOWN = Gauge("suggest_items_shown", "Distinct catalogue items this instance has shown", registry=REGISTRY)

_shown: set[str] = set()
_shown_lock = threading.Lock()

_REASONS = (("no production", "no_model"), ("timed out", "timeout"), ("could not be loaded", "load_error"),
            ("failed", "model_error"), ("registry unavailable", "registry_unavailable"))


def fallback_code(reason: str | None) -> str:
    return next((code for text, code in _REASONS if text in (reason or "")), "other")


def record_suggestion(answer: dict, catalogue_size: int) -> None:
    served = "fallback" if answer["served_by"] == "rule" else "model"
    LISTS.labels(answer["surface"], answer["arm"], served).inc()
    if served == "fallback":
        FALLBACKS.labels(fallback_code(answer.get("fallback_reason"))).inc()
    IMPRESSIONS.labels(answer["surface"], answer["arm"]).inc(len(answer["items"]))
    CATALOGUE_ITEMS.set(catalogue_size)
    with _shown_lock:
        _shown.update(i["item_id"] for i in answer["items"])
        ITEMS_SHOWN.set(len(_shown))


_accepted: OrderedDict[str, None] = OrderedDict()
ACCEPTED_MEMORY = 100_000


def record_event(event_type: str, arm: str, list_id: str) -> None:
    EVENTS.labels(event_type, arm).inc()
    if event_type != "click":
        return
    with _shown_lock:
        if list_id in _accepted:
            return
        _accepted[list_id] = None
        if len(_accepted) > ACCEPTED_MEMORY:
            _accepted.popitem(last=False)
    ACCEPTED_LISTS.labels(arm).inc()


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# --- alert rules: one definition for Cloud Monitoring (program.py) and the local command -----------------------------
@dataclass(frozen=True)
class AlertRule:
    name: str
    threshold: float
    description: str


LATENCY_P99_S = AlertRule("suggest-latency-p99", 0.150, "p99 of POST /v1/suggest in the function above 150 ms")
ERROR_RATE = AlertRule("suggest-error-rate", 0.01, "more than 1% of requests answered 5xx")
COVERAGE = AlertRule("suggest-coverage", 0.80, "under 80% of suggestion lists ranked by the model (not the fallback)")
ALERT_RULES = (LATENCY_P99_S, ERROR_RATE, COVERAGE)
SUGGEST_ROUTE = "/v1/suggest"


def parse_exposition(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return out


def delta(before: dict, after: dict) -> dict:
    """Counter increase between two scrapes of one instance (a series absent before counts from zero)."""
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def _sum(samples: dict, name: str, **match) -> float:
    return sum(v for (n, labels), v in samples.items()
               if n == name and all(dict(labels).get(k) == val for k, val in match.items()))


def histogram_quantile(samples: dict, q: float, name: str, **match) -> float | None:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket that holds the q-th observation."""
    buckets: dict[float, float] = {}
    for (n, labels), v in samples.items():
        d = dict(labels)
        if n == f"{name}_bucket" and all(d.get(k) == val for k, val in match.items()):
            buckets[float(d["le"])] = buckets.get(float(d["le"]), 0.0) + v
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank, prev_bound, prev_count = q * total, 0.0, 0.0
    for b in bounds:
        if buckets[b] >= rank:
            if b == float("inf"):
                return prev_bound
            width = buckets[b] - prev_count
            return prev_bound + (b - prev_bound) * ((rank - prev_count) / width if width > 0 else 1.0)
        prev_bound, prev_count = b, buckets[b]
    return prev_bound


@dataclass(frozen=True)
class AlertState:
    rule: AlertRule
    value: float | None     # None: no traffic in the window, nothing to judge
    firing: bool

    def line(self) -> str:
        shown = "no data" if self.value is None else f"{self.value:.4f}"
        return f"{'FIRING' if self.firing else 'ok    '} {self.rule.name}: {shown} (threshold {self.rule.threshold}; " \
               f"{self.rule.description})"


def evaluate(samples: dict) -> list[AlertState]:
    """The three rules on a window's samples (a delta of two scrapes, or one scrape since the instance started)."""
    p99 = histogram_quantile(samples, 0.99, "suggest_request_seconds", route=SUGGEST_ROUTE)
    total = _sum(samples, "suggest_requests_total")
    errors = sum(v for (n, labels), v in samples.items()
                 if n == "suggest_requests_total" and dict(labels).get("status", "").startswith("5"))
    lists = _sum(samples, "suggest_lists_total")
    model = _sum(samples, "suggest_lists_total", served="model")
    error_rate = errors / total if total else None
    coverage = model / lists if lists else None
    return [AlertState(LATENCY_P99_S, p99, p99 is not None and p99 > LATENCY_P99_S.threshold),
            AlertState(ERROR_RATE, error_rate, error_rate is not None and error_rate > ERROR_RATE.threshold),
            AlertState(COVERAGE, coverage, coverage is not None and coverage < COVERAGE.threshold)]

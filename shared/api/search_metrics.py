"""Prometheus counters of the search function (its own registry: the recommendations function's names are its
own). Labels are bounded: route templates, corpus kinds (scifact | venues), served_by, hit|miss."""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry()
REQUESTS = Counter("search_requests", "Search requests by route and HTTP status", ["route", "status"],
                   registry=REGISTRY)
LATENCY = Histogram("search_request_seconds", "Time in the function per route (parse to response)", ["route"],
                    buckets=(0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.05, 0.1, 0.25, 1.0),
                    registry=REGISTRY)
ANSWERS = Counter("search_answers", "Answers by corpus kind, who served them and the cache outcome",
                  ["corpus_kind", "served_by", "cache"], registry=REGISTRY)


def corpus_kind(corpus: str) -> str:
    return "venues" if corpus.startswith("venues:") else corpus


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

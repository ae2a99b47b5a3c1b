"""Prometheus metrics of the recommendations function, and its structured request log.

`GET /metrics` (and `GET /v1/catalogues/{catalogue}/metrics` through the gateway) answers this registry in the
Prometheus text format. In the cloud the same figures reach Cloud Monitoring from the request log: every request
writes one JSON line in Cloud Logging's structured format (severity, message, httpRequest, and the labels below),
and infra/pulumi/program.py declares log-based metrics over those lines, a dashboard and an alert policy. So the
counters an operator scrapes locally and the charts in the console are one source, not two.

Labels are kept to bounded sets: routes are the route templates, reasons are codes (fallback_code), never text.
"""
from __future__ import annotations

import json
import logging
import sys

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry()
REQUESTS = Counter("recs_requests", "Requests by route, catalogue and HTTP status", ["route", "catalogue", "status"],
                   registry=REGISTRY)
LATENCY = Histogram("recs_request_seconds", "Time in the function per route (parse to response)", ["route"],
                    buckets=(0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
                    registry=REGISTRY)
CACHE = Counter("recs_cache_lookups", "Result-cache lookups: result hit|miss, layer process|redis|none",
                ["catalogue", "result", "layer"], registry=REGISTRY)
SERVED = Counter("recs_lists_served", "Lists served, by the model that served them", ["catalogue", "served_by"],
                 registry=REGISTRY)
FALLBACKS = Counter("recs_fallbacks", "Lists served by a fallback, by the first reason the chain moved on",
                    ["catalogue", "served_by", "reason"], registry=REGISTRY)
MODEL_INFO = Gauge("recs_model_version", "1 for the model version a catalogue serves, per kind",
                   ["catalogue", "served_by", "version"], registry=REGISTRY)

_REASONS = (("no history", "no_history"), ("not in", "unknown_user"), ("no production", "no_model"),
            ("timed out", "timeout"), ("could not be loaded", "load_error"), ("failed", "model_error"))


def fallback_code(reason: str | None) -> str:
    """The first reason of a fallback, as a bounded label."""
    first = (reason or "").split(";")[0]
    return next((code for text, code in _REASONS if text in first), "other")


def record_list(catalogue: str, answer: dict) -> None:
    """Count one served list: its cache outcome, who served it, and why a fallback did."""
    cache = answer.get("cache") or {}
    CACHE.labels(catalogue, "hit" if cache.get("hit") else "miss", cache.get("layer") or "none").inc()
    SERVED.labels(catalogue, answer["served_by"]).inc()
    MODEL_INFO.labels(catalogue, answer["served_by"], answer["model_version"]).set(1)
    if answer.get("fallback_reason") and answer["served_by"] != "two_tower":
        FALLBACKS.labels(catalogue, answer["served_by"], fallback_code(answer["fallback_reason"])).inc()


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class CloudLoggingJson(logging.Formatter):
    """One JSON object per line, the shape Cloud Logging reads from a Cloud Run container's stdout."""

    def format(self, record: logging.LogRecord) -> str:
        body = {"severity": record.levelname, "message": record.getMessage(), "logger": record.name,
                "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z"}
        body.update(getattr(record, "structured", {}) or {})
        if record.exc_info:
            body["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


def structured_logger(name: str) -> logging.Logger:
    """A logger that writes Cloud Logging JSON to stdout (once per process, whatever the root logger does)."""
    logger = logging.getLogger(name)
    if not any(isinstance(h.formatter, CloudLoggingJson) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(CloudLoggingJson())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger

"""Pure parts of suggestion serving: the alert rules' arithmetic, the per-slot greedy list, impression ids and the
event ids that make duplicates no-ops."""
from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from shared.api.suggest_metrics import delta, evaluate, histogram_quantile, parse_exposition
from shared.domains.catalogues.suggest import impressions
from shared.domains.catalogues.suggest.events import to_messages
from shared.domains.catalogues.suggest.schemas import EventsIn
from shared.domains.catalogues.suggest.serve import _greedy
from shared.domains.errors import InvalidRequest


def _registry(latencies_s: list[float], statuses: list[str], served: list[str]) -> str:
    reg = CollectorRegistry()
    lat = Histogram("suggest_request_seconds", "", ["route"], registry=reg,
                    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.5, 1.0))
    req = Counter("suggest_requests", "", ["route", "status"], registry=reg)
    lists = Counter("suggest_lists", "", ["surface", "arm", "served"], registry=reg)
    for s in latencies_s:
        lat.labels("/v1/suggest").observe(s)
    for st in statuses:
        req.labels("/v1/suggest", st).inc()
    for sv in served:
        lists.labels("home", "control", sv).inc()
    return generate_latest(reg).decode()


def test_histogram_quantile_interpolates_like_prometheus():
    text = _registry([0.004] * 50 + [0.015] * 49 + [0.3], ["200"] * 100, ["model"] * 100)
    samples = parse_exposition(text)
    # rank 99 of 100 falls in (0.01, 0.02]: 99 = 50 + 49 -> the bucket's upper edge
    assert histogram_quantile(samples, 0.99, "suggest_request_seconds", route="/v1/suggest") == pytest.approx(0.02)
    assert histogram_quantile(samples, 0.5, "suggest_request_seconds", route="/v1/suggest") == pytest.approx(0.005)


@pytest.mark.parametrize("latency,statuses,served,firing", [
    ([0.01] * 200, ["200"] * 200, ["model"] * 200, set()),
    ([0.01] * 190 + [0.4] * 10, ["200"] * 200, ["model"] * 200, {"suggest-latency-p99"}),
    ([0.01] * 200, ["200"] * 197 + ["500"] * 3, ["model"] * 197, {"suggest-error-rate"}),
    ([0.01] * 200, ["200"] * 199 + ["503"], ["model"] * 199, set()),          # 0.5% errors: under 1%
    ([0.01] * 200, ["200"] * 200, ["model"] * 150 + ["fallback"] * 50, {"suggest-coverage"}),
    ([0.01] * 200, ["200"] * 200, ["model"] * 170 + ["fallback"] * 30, set()),  # 85% coverage
])
def test_each_rule_fires_only_past_its_threshold(latency, statuses, served, firing):
    states = evaluate(parse_exposition(_registry(latency, statuses, served)))
    assert {s.rule.name for s in states if s.firing} == firing


def test_a_window_judges_only_what_happened_in_it():
    before = parse_exposition(_registry([0.5] * 100, ["500"] * 100, ["fallback"] * 100))   # an old incident
    after = parse_exposition(_registry([0.5] * 100 + [0.01] * 300, ["500"] * 100 + ["200"] * 300,
                                       ["fallback"] * 100 + ["model"] * 300))
    assert not any(s.firing for s in evaluate(delta(before, after)))
    assert all(s.firing for s in evaluate(after))
    assert all(s.value is None and not s.firing for s in evaluate(delta(after, after)))   # no traffic: no verdict


def test_greedy_fills_each_slot_with_the_best_remaining_item_at_that_position():
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.1, 0.6]])
    assert [(j, slot) for j, slot, _ in _greedy(scores, 3, 0)] == [(0, 0), (1, 1), (2, 2)]
    # starting at slot 1 uses the second position's scores for every slot past the first
    assert [j for j, _, _ in _greedy(scores, 2, 1)] == [1, 2]
    assert len(_greedy(scores, 10, 0)) == 3


def test_impression_ids_verify_only_when_issued_here():
    imp = impressions.new_impression_id("control")
    assert impressions.verify(imp) == "control"
    tampered = imp.replace("control", "treatment")
    assert impressions.verify(tampered) is None
    assert impressions.verify(imp[:-1] + ("0" if imp[-1] != "0" else "1")) is None
    assert impressions.verify("x") is None and impressions.verify("") is None


def test_event_ids_make_duplicates_one_message_and_unknown_impressions_a_named_400():
    imp = impressions.new_impression_id("treatment")
    body = EventsIn.model_validate({"events": [{"type": "click", "impression_id": imp},
                                               {"type": "click", "impression_id": imp},
                                               {"type": "conversion", "impression_id": imp, "value": 3}]})
    messages = to_messages(body)
    assert [m["event_id"] for m in messages] == [f"click:{imp}", f"conversion:{imp}"]
    single = EventsIn.model_validate({"type": "impression", "impression_id": imp})
    assert to_messages(single)[0]["event_id"] == f"impression:{imp}"
    with pytest.raises(InvalidRequest) as err:
        to_messages(EventsIn.model_validate({"events": [{"type": "click", "impression_id": imp},
                                                        {"type": "click", "impression_id": "made-up"}]}))
    assert err.value.field == "events[1].impression_id"

"""Per-user token buckets (shared.engine.quotas) against the stack's real Redis, and the 429 a rate-limited
route answers through the trips function."""
from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid

import flask
import pytest
import redis

from shared.engine.quotas import Limit, take

pytestmark = pytest.mark.integration


@pytest.fixture
def client(stack):
    return redis.Redis.from_url(stack.env["REDIS_URL"])


def _user() -> str:
    return f"rl-{uuid.uuid4().hex[:8]}"


def test_a_burst_is_allowed_then_refused_with_the_wait(client):
    limit, user = Limit("test-burst", 3, 60), _user()
    decisions = [take(client, limit, user) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert 1 <= decisions[-1].retry_after_s <= 20  # one token every 20 s
    assert take(client, limit, _user()).allowed  # another user has their own bucket


def test_the_bucket_refills_at_its_rate(client):
    limit, user = Limit("test-refill", 2, 0.5), _user()  # a token every 0.25 s
    assert take(client, limit, user).allowed and take(client, limit, user).allowed
    assert not take(client, limit, user).allowed
    time.sleep(0.35)
    assert take(client, limit, user).allowed


def test_concurrent_takes_never_overspend(client):
    limit, user = Limit("test-race", 5, 600), _user()
    results: list[bool] = []
    lock = threading.Lock()

    def worker():
        d = take(client, limit, user)
        with lock:
            results.append(d.allowed)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 15 + [True] * 5


def test_without_redis_the_limit_is_not_enforced_and_says_so():
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    decision = take(down, Limit("test-down", 1, 60), _user())
    assert decision.allowed and not decision.enforced


def test_a_rate_limited_route_answers_429_with_retry_after(stack):
    """RATE_LIMIT_PIVOTS=2/600: the third swap (of a trip that does not exist, so each costs nothing else) is
    refused before any work, with the standard error body and Retry-After."""
    from functions.trips.main import handle
    from shared.adapters.redis_cache import _client
    from shared.settings import get_settings

    before = os.environ.get("RATE_LIMIT_PIVOTS")
    os.environ["RATE_LIMIT_PIVOTS"] = "2/600"
    get_settings.cache_clear()
    _client.cache_clear()
    user = _user()
    headers = {"Content-Type": "application/json",
               "X-Apigateway-Api-Userinfo": base64.urlsafe_b64encode(json.dumps({"sub": user}).encode()).decode()}
    app = flask.Flask(__name__)
    statuses, last = [], None
    try:
        for _ in range(3):
            with app.test_request_context("/v1/trips/trp_missing/slots/s1", method="PATCH", data="{}",
                                          headers=headers):
                last = handle(flask.request)
                statuses.append(last.status_code)
    finally:
        os.environ.pop("RATE_LIMIT_PIVOTS")
        if before is not None:
            os.environ["RATE_LIMIT_PIVOTS"] = before
        get_settings.cache_clear()
    assert statuses == [404, 404, 429], statuses
    assert 1 <= int(last.headers["Retry-After"]) <= 300
    error = last.get_json()["error"]
    assert error["code"] == "resource_exhausted" and "at most 2 per 600 s" in error["message"]

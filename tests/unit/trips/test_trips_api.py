"""Request validation of the trips and prewarm functions (everything that fails before any store is touched)."""
import base64
import json

import flask
import pytest

from functions.prewarm.main import handle as prewarm_handle
from functions.trips.main import handle
from shared.domains.travel.trips.emit import prewarm_payloads, prewarm_task_id
from shared.engine.serving.cache import KEY_VERSION

app = flask.Flask(__name__)


def call(fn, method, path, body=None, user="u1", raw=None):
    headers = {"Content-Type": "application/json"}
    if user:
        headers["X-Apigateway-Api-Userinfo"] = base64.urlsafe_b64encode(json.dumps({"sub": user}).encode()).decode()
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    with app.test_request_context(path, method=method, data=data, headers=headers):
        return fn(flask.request)


GOOD = {"city": "seattle", "start_date": "2031-06-01", "end_date": "2031-06-03"}


@pytest.mark.parametrize("body,raw,field,status", [
    (None, '{"city": ', "body", 400),
    ({**GOOD, "end_date": "2031-05-01"}, None, "end_date", 400),
    ({**GOOD, "end_date": "2031-06-20"}, None, "end_date", 400),
    ({**GOOD, "start_date": "June"}, None, "start_date", 400),
    ({**GOOD, "city": ""}, None, "city", 400),
    ({**GOOD, "budget": 9}, None, "budget", 400),
    ({**GOOD, "group_user_ids": ["a", "a"]}, None, "group_user_ids", 400),
    ({**GOOD, "colour": "red"}, None, "colour", 400),
    ({k: v for k, v in GOOD.items() if k != "city"}, None, "city", 400),
])
def test_create_trip_rejects_bad_input_naming_the_field(body, raw, field, status):
    resp = call(handle, "POST", "/v1/trips", body, raw=raw)
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.headers["X-Model-Version"] == "none"
    assert resp.get_json()["error"]["field"] == field


def test_identity_is_required_and_unknown_routes_are_404():
    assert call(handle, "POST", "/v1/trips", GOOD, user=None).status_code == 401
    assert call(handle, "GET", "/v1/nope").status_code == 404
    assert call(handle, "DELETE", "/v1/trips/x").status_code == 405


@pytest.mark.parametrize("body,field", [
    ({"type": "teleport"}, "type"),
    ({"type": "mood", "mood": "grumpy", "day": 1}, "mood"),
    ({"type": "venue_closed", "day": 0}, "day"),
])
def test_pivot_rejects_bad_input(body, field):
    resp = call(handle, "POST", "/v1/trips/trp_x/pivot", body)
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == field


def test_stream_duration_is_bounded():
    resp = call(handle, "GET", "/v1/trips/trp_x/pivots/stream?duration_s=9999")
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "duration_s"


def test_prewarm_validates_and_enqueues_45_deterministic_tasks():
    assert call(prewarm_handle, "POST", "/", {"city": "seattle", "archetype": "goth", "day_part": "morning",
                                              "day_of_trip": 1}).get_json()["error"]["field"] == "archetype"
    assert call(prewarm_handle, "POST", "/", {"city": "seattle"}).status_code == 400
    tasks = prewarm_payloads("seattle")
    assert len(tasks) == 45 and len({t for t, _ in tasks}) == 45
    assert tasks == prewarm_payloads("seattle")  # same hour, same ids: re-enqueueing is harmless
    assert prewarm_task_id("seattle", "foodie", "morning", 1, 7) == f"prewarm-{KEY_VERSION}-seattle-foodie-morning-d1-7"

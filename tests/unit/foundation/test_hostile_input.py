"""Issue 12's reproductions: inputs that used to give a 500 (or a 202 followed by a lost signal) now get a 4xx
naming the field. Each case runs the real function entry point; every one fails before any store is touched."""
from __future__ import annotations

import base64
import io
import json

import flask
import pytest

from functions.signal_sink.main import handle as sink
from functions.signals.main import handle as signals
from functions.trips.main import handle as trips
from shared.api import json_input

app = flask.Flask(__name__)
DEEP = "[" * 1000 + "]" * 1000
TRIP = {"city": "seattle", "start_date": "2031-06-01", "end_date": "2031-06-03"}
SIGNAL = {"signal_type": "slot_accept", "activity_node_id": "node-1", "trip_id": "trip-1"}


def call(fn, method: str, path: str, data: bytes | str | None = None, *, content_type: str | None = "application/json",
         headers: dict | None = None, **kw) -> flask.Response:
    hdrs = {"X-Apigateway-Api-Userinfo": base64.urlsafe_b64encode(b'{"sub": "u1"}').decode(), **(headers or {})}
    if content_type:
        hdrs["Content-Type"] = content_type
    with app.test_request_context(path, method=method, data=data, headers=hdrs, **kw):
        return fn(flask.request)


def error(resp: flask.Response) -> dict:
    return resp.get_json()["error"]


@pytest.mark.parametrize("fn,method,path", [
    (trips, "POST", "/v1/trips"),
    (trips, "POST", "/v1/trips/trp_x/pivot"),
    (trips, "PATCH", "/v1/trips/trp_x/slots/slot_1"),
    (signals, "POST", "/v1/signals"),
    (sink, "POST", "/"),
])
def test_json_nested_1000_deep_is_a_400_on_every_body_route(fn, method, path):
    resp = call(fn, method, path, DEEP)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert "nested deeper" in error(resp)["message"]


def test_a_deep_document_inside_a_pushed_message_is_poison_not_a_500():
    data = base64.b64encode(('{"signal_type": "slot_accept", "context": ' + "[" * 40 + "]" * 40 + "}").encode())
    envelope = {"message": {"data": data.decode(), "messageId": ""}, "subscription": "projects/p/subscriptions/s"}
    resp = call(sink, "POST", "/", json.dumps(envelope))
    # no message id: the attempt count is the limit, so it is dead-lettered at once; the test has no Pub/Sub, so
    # publishing the dead letter fails and the sink asks for a retry (503) - never a 500
    assert resp.status_code in (200, 503), resp.get_data(as_text=True)


@pytest.mark.parametrize("fn,method,path,body,field", [
    (trips, "GET", "/v1/trips/trp%00x", None, "trip_id"),
    (trips, "PATCH", "/v1/trips/trp_x/slots/slot_1", {"activity_node_id": "node\u0000x"}, "activity_node_id"),
    (trips, "POST", "/v1/trips/trp_x/pivot", {"type": "weather", "day": 1, "weather": "rain\u0000"}, "weather"),
    (trips, "POST", "/v1/trips", {**TRIP, "tags": {"food": ["ramen\u0001"]}}, "tags.food[0]"),
    (signals, "POST", "/v1/signals", {**SIGNAL, "trip_id": "t\u0000"}, "trip_id"),
])
def test_nul_and_control_characters_are_a_400_naming_the_field(fn, method, path, body, field):
    resp = call(fn, method, path, json.dumps(body) if body is not None else None)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert error(resp)["field"] == field


def test_a_path_that_decodes_to_a_double_slash_is_routed_not_redirected():
    resp = call(trips, "GET", "/v1//trips/trp%00x")
    assert resp.status_code == 400 and error(resp)["field"] == "trip_id"
    resp = call(trips, "GET", "/v1/trips//")
    assert resp.status_code in (404, 405) and resp.is_json


@pytest.mark.parametrize("score", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_non_finite_score_is_refused_by_the_api_so_the_sink_never_sees_it(score):
    raw = json.dumps({**SIGNAL, "context": {"candidates": [{"id": "n1", "score": 0.5}]}}).replace("0.5", score)
    resp = call(signals, "POST", "/v1/signals", raw)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert error(resp)["field"] == "context.candidates[0].score"


@pytest.mark.parametrize("change,field", [
    ({"budget": True}, "budget"),
    ({"budget": 2.0}, "budget"),
    ({"start_date": "0001-01-01", "end_date": "0001-01-02"}, "start_date"),
    ({"start_date": "9999-01-01", "end_date": "9999-01-02"}, "start_date"),
])
def test_loose_trip_values_are_refused(change, field):
    resp = call(trips, "POST", "/v1/trips", json.dumps({**TRIP, **change}))
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert error(resp)["field"] == field


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_declared_json_is_a_415(content_type):
    resp = call(trips, "POST", "/v1/trips", json.dumps(TRIP), content_type=content_type)
    assert resp.status_code == 415 and error(resp)["field"] == "Content-Type"


@pytest.mark.parametrize("method,path", [("POST", "/v1/trips"), ("PATCH", "/v1/trips/trp_x/slots/slot_1")])
def test_a_chunked_body_over_the_limit_is_a_413_while_it_is_read(method, path):
    body = json.dumps({**TRIP, "tags": {"food": ["x" * 3_000_000]}}).encode()
    resp = call(trips, method, path, None, input_stream=io.BytesIO(body),
                headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})
    assert resp.status_code == 413, resp.get_data(as_text=True)


def test_the_parser_checks_keys_and_nesting_without_recursing():
    with pytest.raises(json_input.InvalidJson) as bad_key:
        json_input.loads('{"a": {"b\\u0000": 1}}')
    assert bad_key.value.field == "a.b?"
    assert json_input.loads('{"a": [1, 2.5, "tab\\tok"]}') == {"a": [1, 2.5, "tab\tok"]}
    with pytest.raises(json_input.InvalidJson):
        json_input.loads("[" * 33 + "]" * 33)
    json_input.loads("[" * 32 + "]" * 32)


@pytest.mark.parametrize("raw,field", [
    ('{"reason": "because \\ud800"}', "reason"),            # a lone high surrogate
    ('{"signals": [{"model_version": "\\udc00x"}]}', "signals[0].model_version"),  # a lone low one
    ('{"k\\ud800": 1}', "k?"),                               # in a key
])
def test_an_unpaired_surrogate_is_refused_naming_the_field(raw, field):
    """Found by the contract fuzz's generated strings: JSON can spell "\\ud800", Python decodes it, UTF-8 (Postgres,
    Redis, Pub/Sub) cannot encode it; a hand-validated field (an admin promotion's reason) reached Postgres' jsonb
    with it and got a 500 (tests/integration/foundation/test_hostile_input_stack.py reproduces it end to end)."""
    with pytest.raises(json_input.InvalidJson) as err:
        json_input.loads(raw)
    assert err.value.field == field and "surrogate" in err.value.message


def test_a_surrogate_pair_is_one_character_and_accepted():
    assert json_input.loads('{"mood": "\\ud83d\\ude00"}') == {"mood": "\U0001F600"}


def test_an_unpaired_surrogate_in_an_admin_reason_is_a_400_before_the_registry(monkeypatch):
    monkeypatch.setenv("ADMIN_TOKEN", "s3cret")
    from functions.admin.main import handle as admin
    from shared.settings import get_settings

    get_settings.cache_clear()
    try:
        resp = call(admin, "POST", "/v1/admin/models/bpr/v1/promote", '{"reason": "because \\ud800"}',
                    headers={"X-Admin-Token": "s3cret"})
    finally:
        get_settings.cache_clear()
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert error(resp)["field"] == "reason"

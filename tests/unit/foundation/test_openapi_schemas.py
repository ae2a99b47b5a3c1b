"""infra/pulumi/openapi.yaml: in sync with the pydantic models, valid Swagger 2.0 (what API Gateway accepts), every
operation with its schemas, documented errors and quota; and each documentation-only response model checked
against a body the real code renders, so the document cannot drift from what is answered."""
from __future__ import annotations

import base64
import datetime as dt
import json

import flask
import pytest
import yaml

from infra.pulumi.declaration import OPENAPI_FILE
from infra.pulumi.openapi import backends_named, operations, render
from infra.pulumi.openapi_schemas import REF_PREFIX, Converter, generate

METHODS_WITH_BODY = {"POST", "PATCH", "PUT"}


@pytest.fixture(scope="module")
def document() -> dict:
    return render({name: f"https://{name}.example" for name in backends_named()}, "proj")


def _walk(node, path=""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def test_the_committed_document_is_what_the_models_generate():
    current = OPENAPI_FILE.read_text()
    assert generate(current) == current, \
        "infra/pulumi/openapi.yaml is out of sync with the pydantic models: run python -m infra.pulumi.openapi_schemas --write"


def test_it_is_valid_swagger_2(document):
    from openapi_spec_validator import OpenAPIV2SpecValidator

    assert document["swagger"] == "2.0"
    errors = [str(e)[:300] for e in OpenAPIV2SpecValidator(document).iter_errors()]
    assert not errors, errors


def test_it_uses_only_what_swagger_2_has(document):
    """No JSON Schema keyword Swagger 2.0 lacks, no dangling reference, no YAML alias (API Gateway refuses them)."""
    defs = document["definitions"]
    for path, node in _walk(document):
        for keyword in ("anyOf", "oneOf", "const", "$defs", "prefixItems", "not"):
            assert keyword not in node, f"{keyword} at {path}"
        assert node.get("type") != "null" and not isinstance(node.get("type"), list), path
        ref = node.get("$ref")
        if isinstance(ref, str):
            assert ref.startswith(REF_PREFIX) and ref[len(REF_PREFIX):] in defs, f"{ref} at {path}"
            assert set(node) == {"$ref"}, f"$ref with siblings at {path} (Swagger 2.0 ignores them)"
    events = yaml.parse(OPENAPI_FILE.read_text())
    assert not any(isinstance(e, (yaml.AliasEvent,)) or getattr(e, "anchor", None) for e in events)


# POSTs that act from the caller's identity (or the admin credential) and the path alone
TAKES_NO_BODY = {"createCompanionInvite", "createGroupInvite", "closeGroupCycle", "consoleSignIn"}


def test_every_operation_documents_its_schemas_errors_and_quota(document):
    metrics = {m["name"] for m in document["x-google-management"]["metrics"]}
    limits = document["x-google-management"]["quota"]["limits"]
    assert {limit["metric"] for limit in limits} == metrics
    assert all(limit["unit"] == "1/min/{project}" and limit["values"]["STANDARD"] > 0 for limit in limits)
    assert document["securityDefinitions"]["api_key"] == {"type": "apiKey", "name": "key", "in": "query"}
    for method, path, op in operations(document):
        label = f"{method} {path}"
        responses = op["responses"]
        success = [int(s) for s in responses if s.startswith("2")]
        assert success, label
        for status in success:
            # a stream or an iCalendar file has no JSON schema (its 4xx bodies still do)
            if status != 204 and op.get("produces", ["application/json"])[0] == "application/json":
                assert "schema" in responses[str(status)], label
        for status, resp in responses.items():
            if status.startswith(("4", "5")) and not path.startswith("/v1/health"):
                assert resp["schema"] == {"$ref": REF_PREFIX + "ErrorBody"}, (label, status)
        params = {p["in"]: p for p in op.get("parameters", [])}
        if method in METHODS_WITH_BODY and op["operationId"] not in TAKES_NO_BODY:
            assert "schema" in params["body"], label
            assert {"400", "413", "415"} <= set(responses), label
        for name in [p for p in path.split("/") if p.startswith("{")]:
            assert any(p["in"] == "path" and p["name"] == name[1:-1] for p in op["parameters"]), (label, name)
        if path.startswith("/v1/health"):
            assert "security" not in op and "x-google-quota" not in op, label
            continue
        # every other operation counts against a quota, which needs the caller's API key (ANDed with the token)
        costs = op["x-google-quota"]["metricCosts"]
        assert set(costs) <= metrics and all(c >= 1 for c in costs.values()), label
        assert all("api_key" in req for req in op["security"]), label
        assert "429" in responses and "Retry-After" in responses["429"]["headers"], label
        assert "401" in responses, label
        if path.startswith(("/v1/admin/", "/console")):
            assert "403" in responses and any(p["name"] == "X-Admin-Token" for p in op["parameters"]), label
            # the console's pages take the admin credential (a browser's session cookie), never a user's token
            assert op["security"] == [{"api_key": []}], label
        else:
            assert op["security"] == [{"firebase": [], "api_key": []}], label


def test_the_rate_limited_routes_document_429_with_retry_after(document):
    by_id = {op["operationId"]: op for _, _, op in operations(document)}
    for op_id in ("createTrip", "pivotTrip", "streamPivots", "swapSlot"):
        assert by_id[op_id]["responses"]["429"]["headers"]["Retry-After"]["type"] == "integer"


def test_the_trips_responses_carry_the_model_version(document):
    for _, path, op in operations(document):
        if path.startswith("/v1/trips"):
            ok = next(r for s, r in op["responses"].items() if s.startswith("2"))
            assert "X-Model-Version" in ok["headers"], path


# --- the converter: what JSON Schema becomes in Swagger 2.0 ---------------------------------------------------------
def _convert(schema: dict, defs: dict | None = None) -> dict:
    return Converter(defs or {}).convert(schema)


def test_nullable_becomes_x_nullable_and_a_nullable_ref_an_allof():
    assert _convert({"anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}], "default": None,
                     "title": "X"}) == {"type": "string", "maxLength": 3, "x-nullable": True}
    assert _convert({"anyOf": [{"$ref": "#/definitions/A"}, {"type": "null"}], "description": "d"},
                    {"A": {"type": "object"}}) == {"allOf": [{"$ref": "#/definitions/A"}], "x-nullable": True,
                                                   "description": "d"}


def test_const_exclusive_bounds_and_number_unions():
    assert _convert({"const": "accepted", "type": "string"}) == {"enum": ["accepted"], "type": "string"}
    assert _convert({"type": "number", "exclusiveMinimum": 0}) == {"type": "number", "minimum": 0,
                                                                   "exclusiveMinimum": True}
    assert _convert({"anyOf": [{"type": "number"}, {"type": "integer"}, {"type": "null"}]}) == {
        "type": "number", "x-nullable": True}


def test_unions_without_a_swagger_form_are_flattened_and_say_so():
    assert _convert({"anyOf": [{"type": "string"}, {"type": "integer"}]}) == {"x-types": ["integer", "string"]}
    defs = {"One": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
                    "required": ["a", "b"], "additionalProperties": False},
            "Many": {"type": "object", "properties": {"items": {"type": "array"}, "a": {"type": "string"}},
                     "required": ["a", "items"], "additionalProperties": False}}
    merged = _convert({"anyOf": [{"$ref": "#/definitions/One"}, {"$ref": "#/definitions/Many"}]}, defs)
    assert merged == {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"},
                                                       "items": {"type": "array"}},
                      "required": ["a"], "additionalProperties": False, "x-union-of": ["One", "Many"]}


# --- documentation-only models against bodies the real code renders -------------------------------------------------
def _json(body) -> dict:
    """What the client receives: shared.api.http.json_response serialises with default=str."""
    return json.loads(json.dumps(body, default=str))


@pytest.fixture(scope="module")
def rendered_trip():
    from shared.domains.travel.trips.persona import Persona
    from shared.domains.travel.trips.tags import parse_tags
    from shared.domains.travel.trips.trip_slots import build_slots
    from tests.unit.trips.test_day_model import city, plan_for

    tags = {"food": ["seafood", "coffee"], "interests": ["museums"], "pace": "moderate"}
    start = dt.date(2031, 6, 1)
    plan = plan_for(city(), tags, start=start)
    persona = Persona(parse_tags(tags), "a test persona", "template", "foodie", None)
    slots = build_slots("trp_doc", plan, [("u1", persona, 0)], "heuristic-v1", "seattle")
    record = {"id": "trp_doc", "user_id": "u1", "city_id": "seattle", "start_date": start,
              "end_date": start + dt.timedelta(days=2), "served_by": "heuristic", "model_version": "heuristic-v1",
              "member_ids": ["u1"], "status": "planned",
              "meta": {"archetypes": {"u1": "foodie"}, "states": {"u1": "cold"}, "city_name": "Seattle",
                       "catalogue": "seeded", "ranker": "heuristic", "notes": plan.notes, "empty_reason": None,
                       "fallback_reason": None, "arbitration": None}}
    return record, slots


def test_a_rendered_trip_matches_trip_view(rendered_trip):
    from shared.domains.travel.trips.view import trip_view
    from shared.domains.travel.trips.view_models import TripView

    record, slots = rendered_trip
    live = {"cache": {"hit": False, "ranker_calls": 1}, "ranking_cache_hit": False,
            "persona": {"archetype": "foodie", "description": "a test persona"},
            "timings_ms": {"rank": 1.0, "assemble": 2.0, "persist": 0.5, "total": 4.0}}
    created = _json(trip_view(record, slots, "u1", live=live))
    assert sum(len(d["slots"]) for d in created["days"]) > 0
    TripView.model_validate(created)
    TripView.model_validate(_json(trip_view(record, slots, "u1")))


def test_a_changed_slot_matches_the_swap_and_pivot_views(rendered_trip):
    from shared.domains.travel.trips.view import render_slot
    from shared.domains.travel.trips.view_models import PivotView, SwapView

    _, slots = rendered_trip
    changed = {**render_slot(slots[0]), "day": slots[0]["day_number"], "pivot_id": "42"}
    SwapView.model_validate(_json({"trip_id": "trp_doc", "slot": changed, "served_by": "precomputed_fallback",
                                   "ranker_calls": 0}))
    PivotView.model_validate(_json({"type": "weather", "changed": [changed], "served_by": "precomputed_fallback",
                                    "skipped": [{"slot_id": "s", "reason": "no indoor alternative was precomputed"}],
                                    "ranker_calls": 0, "message": None, "trip_id": "trp_doc"}))


def test_the_persona_view_matches(monkeypatch):
    import asyncio

    from shared.domains.travel.trips.persona_view import persona_view
    from shared.domains.travel.trips.view_models import PersonaView

    class Conn:
        async def fetchrow(self, *_args):
            return {"id": "u1", "persona_description": "likes coffee", "signal_count": 3, "has_emb": True,
                    "onboarding_tags": {"food": ["coffee"], "pace": "slow"}}

    class Acquire:
        async def __aenter__(self):
            return Conn()

        async def __aexit__(self, *_exc):
            return False

    class Pool:
        def acquire(self):
            return Acquire()

    PersonaView.model_validate(_json(asyncio.run(persona_view(Pool(), "u1"))))


app = flask.Flask(__name__)


def _call(fn, method: str, path: str, data=None, headers: dict | None = None) -> flask.Response:
    hdrs = {"X-Apigateway-Api-Userinfo": base64.urlsafe_b64encode(b'{"sub": "u1"}').decode(),
            "Content-Type": "application/json", **(headers or {})}
    with app.test_request_context(path, method=method, data=data, headers=hdrs):
        return fn(flask.request)


def test_error_bodies_match_the_error_model():
    from pydantic import BaseModel, ValidationError

    from emulators.gateway import _gateway_error
    from functions.trips.main import handle as trips
    from shared.api.error_model import ErrorBody
    from shared.api.errors import ApiError, bad_request, from_validation_error

    class M(BaseModel):
        n: int

    try:
        M.model_validate({"n": "x"})
    except ValidationError as exc:
        ErrorBody.model_validate(from_validation_error(exc).body())
    ErrorBody.model_validate(bad_request("city: unknown", "city", [{"suggestions": ["seattle"]}]).body())
    ErrorBody.model_validate(ApiError(503, "unavailable", "retry").body())
    ErrorBody.model_validate(json.loads(_gateway_error(504, "backend did not answer").body))
    for resp in (_call(trips, "POST", "/v1/trips", "{"), _call(trips, "GET", "/v1/trips/x", headers={
            "X-Apigateway-Api-Userinfo": "@@"}), _call(trips, "GET", "/v1/nope")):
        assert resp.status_code in (400, 401, 404), resp.get_data(as_text=True)
        ErrorBody.model_validate(resp.get_json())


def test_the_health_views_match(monkeypatch):
    import functions.health.main as health
    from shared.health_view import HealthView, LiveView

    LiveView.model_validate(_call(health.handle, "GET", "/v1/health/live").get_json())
    monkeypatch.setattr("shared.health.check_all", lambda: {"postgres": {"status": "up", "latency_ms": 1.2},
                                                            "redis": {"status": "down", "error": "refused"}})
    health._last_up.clear()
    down = _call(health.handle, "GET", "/v1/health")
    assert down.status_code == 503
    HealthView.model_validate(down.get_json())
    monkeypatch.setattr("shared.health.check_all", lambda: {"postgres": {"status": "up", "latency_ms": 1.2}})
    for _ in range(2):  # a fresh answer, then the shared one
        HealthView.model_validate(_call(health.handle, "GET", "/v1/health").get_json())
    health._last_up.clear()


def test_the_admin_views_match_what_the_admin_function_renders():
    from datetime import datetime, timezone

    import functions.admin.main as admin
    from shared.domains.travel.catalogue.run_views import MAX_LIMIT, TAGGERS, SeedRunView
    from shared.engine.registry.store import ModelRecord
    from shared.engine.registry.views import ModelView

    assert TAGGERS == admin.TAGGERS and MAX_LIMIT == admin.MAX_LIMIT
    now = datetime.now(timezone.utc)
    row = {"id": "seed-1", "city_id": "seattle", "sources": ["wikivoyage"], "venue_limit": None, "status": "running",
           "progress": {"stage": "tagging", "done": 3, "total": 10}, "summary": None, "error": None,
           "created_at": now, "started_at": now, "finished_at": None}
    SeedRunView.model_validate(_json(admin._run_view(row)))
    record = ModelRecord(1, "bpr", "v3", "gs://models/bpr/v3", now, {"training": {"rows": 10},
                         "evaluations": {"e1": {"ndcg@10": 0.3}}, "latest_evaluation": "e1",
                         "promotion": {"by": "gate"}}, "shadow", None, now)
    ModelView.model_validate(_json(admin._model_view(record)))

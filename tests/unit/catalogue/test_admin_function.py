"""The admin function's credential check and validation (no stores needed: both happen before any I/O)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import flask
import pytest

DEMO = Path(__file__).resolve().parents[3] / "emulators" / "demo_data"


@pytest.fixture
def admin(monkeypatch):
    from shared.settings import get_settings

    monkeypatch.setenv("ADMIN_TOKEN", "s3cret")
    monkeypatch.setenv("CONCIERGE_DATA_DIR", str(DEMO))
    get_settings.cache_clear()
    from functions.admin import main

    app = flask.Flask("test")

    def call(method: str, path: str, body=None, token: str | None = "s3cret"):
        headers = {"X-Admin-Token": token} if token is not None else {}
        data = json.dumps(body) if body is not None else None
        with app.test_request_context(path, method=method, data=data, headers=headers,
                                      content_type="application/json"):
            resp = main.handle(flask.request)
            return resp.status_code, resp.get_json()

    yield call
    get_settings.cache_clear()


def test_missing_credential_is_401_and_wrong_one_403(admin):
    status, body = admin("POST", "/v1/admin/seed-city", {"city": "seattle"}, token=None)
    assert status == 401 and body["error"]["field"] == "X-Admin-Token"
    status, body = admin("POST", "/v1/admin/seed-city", {"city": "seattle"}, token="guess")
    assert status == 403
    status, _ = admin("GET", "/v1/admin/seed-city/seed-123", token="guess")
    assert status == 403


def test_no_configured_token_disables_the_admin_api(admin, monkeypatch):
    monkeypatch.delenv("ADMIN_TOKEN")
    status, body = admin("POST", "/v1/admin/seed-city", {"city": "seattle"})
    assert status == 403 and "disabled" in body["error"]["message"]


@pytest.mark.parametrize(("body", "field"), [
    ({}, "city"),
    ({"city": "atlantis"}, "city"),
    ({"city": "seattle", "sources": ["wikivoyage", "yelp"]}, "sources"),
    ({"city": "seattle", "limit": 0}, "limit"),
    ({"city": "seattle", "limit": "ten"}, "limit"),
    ({"city": "seattle", "tagger": "gpt"}, "tagger"),
    ({"city": "seattle", "colour": "blue"}, "colour"),
    (["seattle"], "body"),
])
def test_bad_requests_name_the_field(admin, body, field):
    status, out = admin("POST", "/v1/admin/seed-city", body)
    assert status == 400 and out["error"]["field"] == field, out


def test_unknown_city_suggests_valid_ones(admin):
    status, out = admin("POST", "/v1/admin/seed-city", {"city": "seatle"})
    assert status == 400 and out["error"]["details"] == [{"suggestions": ["seattle"]}]


def test_module_import_is_light():
    import subprocess

    code = ("import sys, time; t = time.perf_counter(); import functions.admin.main; "
            "heavy = [m for m in ('torch', 'onnxruntime', 'sklearn', 'pandas', 'qdrant_client') if m in sys.modules]; "
            "assert not heavy, heavy; assert time.perf_counter() - t < 1.5")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(Path(__file__).resolve().parents[3]))


@pytest.mark.parametrize("path, body, field", [
    ("/v1/admin/models/learn", {"days": 0}, "days"),
    ("/v1/admin/models/learn", {"days": True}, "days"),
    ("/v1/admin/models/learn", {"through": "yesterday"}, "through"),
    ("/v1/admin/models/learn", {"model": "bpr"}, "model"),
    ("/v1/admin/models/learn", ["bpr"], "body"),
    ("/v1/admin/models/bpr/v1/promote", {}, "reason"),
    ("/v1/admin/models/bpr/rollback", {"reason": "  "}, "reason"),
])
def test_model_admin_input_is_validated_before_any_io(admin, path, body, field):
    status, got = admin("POST", path, body)
    assert status == 400 and got["error"]["field"] == field, got


def test_model_admin_needs_the_credential(admin):
    for method, path in (("GET", "/v1/admin/models"), ("POST", "/v1/admin/models/learn"),
                         ("POST", "/v1/admin/models/bpr/rollback")):
        status, body = admin(method, path, {"reason": "x"}, token=None)
        assert status == 401 and body["error"]["field"] == "X-Admin-Token"

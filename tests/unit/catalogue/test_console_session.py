"""The console's session cookie: issued only for the admin credential, checked by its HMAC and expiry, and ended by
rotating ADMIN_TOKEN (no stores needed: the check happens before any I/O)."""
from __future__ import annotations

import time

import flask
import pytest


@pytest.fixture
def console(monkeypatch):
    from shared.settings import get_settings

    monkeypatch.setenv("ADMIN_TOKEN", "s3cret")
    get_settings.cache_clear()
    from functions.admin import main

    app = flask.Flask("test")

    def call(method: str, path: str, headers: dict | None = None, cookie: str | None = None):
        environ = {"HTTP_COOKIE": f"{main.SESSION_COOKIE}={cookie}"} if cookie else {}
        with app.test_request_context(path, method=method, headers=headers or {}, data="{}",
                                      content_type="application/json", environ_base=environ):
            return main.handle(flask.request)

    yield main, call
    get_settings.cache_clear()


def _cookie(resp) -> str:
    header = resp.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Strict" in header
    return header.split(";", 1)[0].split("=", 1)[1]


def test_sign_in_needs_the_header_and_its_cookie_opens_the_console(console):
    main, call = console
    assert call("POST", "/v1/admin/console/session").status_code == 401
    assert call("POST", "/v1/admin/console/session", {"X-Admin-Token": "guess"}).status_code == 403
    signed = call("POST", "/v1/admin/console/session", {"X-Admin-Token": "s3cret"})
    assert signed.status_code == 200 and signed.get_json()["signed_in"]
    cookie = _cookie(signed)
    assert "s3cret" not in cookie  # the session is an HMAC of its expiry, never the token
    page = call("GET", "/console/trips", {"Accept": "text/html"}, cookie=cookie)
    assert page.status_code == 200 and 'data-page="trips"' in page.get_data(as_text=True)
    assert call("GET", "/console/static/app.js", cookie=cookie).status_code == 200
    # a cookie cannot renew itself: signing in again needs the credential
    assert call("POST", "/v1/admin/console/session", cookie=cookie).status_code == 401


def test_forged_expired_and_rotated_sessions_are_401(console, monkeypatch):
    main, call = console
    good, _ = main._session_value("s3cret")
    stamp, mac = good.split(".")
    expired, _ = main._session_value("s3cret", now=time.time() - main.SESSION_TTL_S - 5)
    for cookie in (f"{stamp}.{'0' * len(mac)}", f"{int(stamp) + 1}.{mac}", expired, "not-a-session"):
        resp = call("GET", "/v1/admin/alerts", cookie=cookie)
        assert resp.status_code == 401, cookie
        assert resp.get_json()["error"]["field"] == main.SESSION_COOKIE
    expired_page = call("GET", "/console/models", {"Accept": "text/html"}, cookie=expired)
    assert expired_page.status_code == 401 and "expired" in expired_page.get_data(as_text=True)
    monkeypatch.setenv("ADMIN_TOKEN", "rotated")
    from shared.settings import get_settings

    get_settings.cache_clear()
    assert call("GET", "/v1/admin/alerts", cookie=good).status_code == 401


def test_unknown_page_and_asset_names_are_404(console):
    main, call = console
    cookie, _ = main._session_value("s3cret")
    assert call("GET", "/console/nope").status_code == 401  # the credential first, whatever the path
    assert call("GET", "/console/nope", cookie=cookie).status_code == 404
    for name in ("..%2Fmain.py", "main.py", "app.exe"):
        assert call("GET", f"/console/static/{name}", cookie=cookie).status_code == 404

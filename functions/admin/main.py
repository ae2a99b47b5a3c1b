"""Admin endpoints: seed a city on demand.

POST /v1/admin/seed-city            {"city": "seattle", "sources": ["wikivoyage", ...]?, "limit": 200?, "tagger": "auto"?}
    -> 202 {"run_id", "status": "queued", "city_id", "status_url"}: the run is recorded (seed_runs) and a task is
       enqueued on the `seeding` Cloud Tasks queue, targeting this function's /tasks/seed-city.
GET  /v1/admin/seed-city/{run_id}   -> 200 {"run_id", "status", "progress", "summary", "error", ...}
POST /tasks/seed-city               {"run_id"} — the Cloud Tasks handler (not routed by the gateway; in the cloud only
                                     the queue's service account may invoke the function). It claims a queued run
                                     exactly once, runs the same library code as the seed_city job, writes progress as
                                     it goes and the summary at the end. A redelivered task for a claimed run is a no-op.

GET  /v1/admin/models                          -> 200 {"models": [...]}: every registered model, its status and its
                                                  figures (held-out gate, shadow gate, promotion, rollback)
POST /v1/admin/models/learn    {"through"?: "YYYY-MM-DD", "days"?: 28}
                                               -> 202 {"status": "queued", "task"}: one run of the nightly learning
                                                  loop (jobs/learn) on the `training` queue, as the schedule does it
POST /v1/admin/models/{name}/{version}/promote  {"reason"}  -> 200 the model: a model in shadow to production, recorded as
                                                  a manual promotion (409 when it is not in shadow)
POST /v1/admin/models/{name}/rollback   {"reason"}  -> 200 {"restored", "retired"}: the previous production model back
POST /tasks/learn                               the `training` queue's handler: runs jobs.learn (a subprocess, as the
                                                  Cloud Run Job would) and answers its summary

Admin credential: header X-Admin-Token must equal the ADMIN_TOKEN secret — 401 when the header is missing, 403 when
it is wrong (or when no ADMIN_TOKEN is configured at all, which disables the admin API).
"""
from __future__ import annotations

import hmac
import time
import uuid
from typing import Any

import flask
import functions_framework

from shared.api.caller_identity import TASKS, require_caller
from shared.api.errors import ApiError, bad_request, forbidden, not_found
from shared.api.http import Router, endpoint, int_query, json_body, json_response

router = Router()
ADMIN_HEADER = "X-Admin-Token"
SEEDING_QUEUE = "seeding"
TASK_PATH = "/tasks/seed-city"
TAGGERS = ("auto", "offline", "anthropic", "student")
MAX_LIMIT = 100_000
PROGRESS_EVERY_S = 0.5


def require_admin(request: flask.Request) -> None:
    """The admin credential: the X-Admin-Token header, or the console's session cookie (which a browser sends on
    navigation, where it cannot add a header). A missing or expired credential is a 401, a wrong header a 403."""
    from shared.adapters.secrets import get_secret

    given = request.headers.get(ADMIN_HEADER)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not given and not cookie:
        raise ApiError(401, "unauthenticated", f"admin credential required in the {ADMIN_HEADER} header", ADMIN_HEADER)
    expected = get_secret("ADMIN_TOKEN")
    if not expected:
        raise forbidden("the admin API is disabled: no ADMIN_TOKEN is configured")
    if not given:
        if not _session_valid(cookie, expected):
            raise ApiError(401, "unauthenticated", "the console session has expired; sign in again", SESSION_COOKIE)
        return
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(403, "permission_denied", "the admin credential is not valid", ADMIN_HEADER)


# --- the console's session ------------------------------------------------------------------------------------------
SESSION_COOKIE = "concierge_console"
SESSION_TTL_S = 12 * 3600


def _session_mac(expected: str, expires: int) -> str:
    import hashlib

    return hmac.new(expected.encode(), f"console-session:{expires}".encode(), hashlib.sha256).hexdigest()


def _session_value(expected: str, now: float | None = None) -> tuple[str, int]:
    """`<expiry>.<HMAC of it under ADMIN_TOKEN>`: stateless (any instance can check it, nothing to store), never the
    token itself, and rotating ADMIN_TOKEN ends every session."""
    expires = int((now or time.time()) + SESSION_TTL_S)
    return f"{expires}.{_session_mac(expected, expires)}", expires


def _session_valid(value: str, expected: str) -> bool:
    stamp, _, mac = value.partition(".")
    if not stamp.isdigit() or int(stamp) < time.time():
        return False
    return hmac.compare_digest(mac.encode(), _session_mac(expected, int(stamp)).encode())


def _validate(body: Any) -> dict[str, Any]:
    from shared.domains.travel.catalogue.cities import UnknownCity, resolve_city
    from shared.domains.travel.catalogue.pipeline import parse_sources
    from shared.settings import get_settings

    if not isinstance(body, dict):
        raise bad_request("body: expected a JSON object like {\"city\": \"seattle\"}", "body")
    unknown = sorted(set(body) - {"city", "sources", "limit", "tagger"})
    if unknown:
        raise bad_request(f"{unknown[0]}: unexpected field", unknown[0])
    city = body.get("city")
    if not isinstance(city, str) or not city.strip() or len(city) > 100:
        raise bad_request("city: required, a city name or id such as \"seattle\"", "city")
    sources = body.get("sources")
    if sources is not None and not (isinstance(sources, str) or
                                    (isinstance(sources, list) and all(isinstance(s, str) for s in sources))):
        raise bad_request("sources: a list of source names or a comma-separated string", "sources")
    try:
        source_list = parse_sources(sources)
    except ValueError as exc:
        raise bad_request(f"sources: {exc}", "sources") from None
    try:
        city_obj = resolve_city(city, get_settings().data_dir, allow_new="places" in source_list)
    except UnknownCity as exc:
        raise bad_request(f"city: {exc}", "city", [{"suggestions": exc.suggestions}] if exc.suggestions else None) from None
    limit = body.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_LIMIT):
        raise bad_request(f"limit: a whole number of venues between 1 and {MAX_LIMIT}", "limit")
    tagger = body.get("tagger", "auto")
    if tagger not in TAGGERS:
        raise bad_request(f"tagger: one of {', '.join(TAGGERS)}", "tagger")
    return {"city_id": city_obj.id, "sources": source_list, "limit": limit, "tagger": tagger}


def _requested_by(request: flask.Request) -> str | None:
    from shared.api.http import current_user

    try:
        return current_user(request)
    except ApiError:
        return None


def _run_view(row) -> dict[str, Any]:
    return {
        "run_id": row["id"], "city_id": row["city_id"], "sources": list(row["sources"]), "limit": row["venue_limit"],
        "status": row["status"], "progress": row["progress"], "summary": row["summary"], "error": row["error"],
        "created_at": row["created_at"], "started_at": row["started_at"], "finished_at": row["finished_at"],
    }


@router.route("POST", "/v1/admin/seed-city")
def request_seeding(request: flask.Request) -> flask.Response:
    require_admin(request)
    spec = _validate(json_body(request))

    from shared.adapters.aio import run_sync
    from shared.adapters.postgres import get_pool
    from shared.adapters.tasks import enqueue_http
    from shared.settings import get_settings

    run_id = f"seed-{uuid.uuid4().hex[:20]}"

    async def record() -> None:
        pool = await get_pool()
        await pool.execute(
            "INSERT INTO seed_runs (id, city_id, sources, venue_limit, status, progress, requested_by) "
            "VALUES ($1, $2, $3, $4, 'queued', $5, $6)",
            run_id, spec["city_id"], spec["sources"], spec["limit"], {"stage": "queued", "tagger": spec["tagger"]},
            _requested_by(request),
        )

    async def forget() -> None:
        pool = await get_pool()
        await pool.execute("DELETE FROM seed_runs WHERE id = $1 AND status = 'queued'", run_id)

    run_sync(record())
    try:
        url = get_settings().function_url("admin") + TASK_PATH
        enqueue_http(SEEDING_QUEUE, url, {"run_id": run_id}, task_id=run_id)
    except Exception as exc:
        run_sync(forget())  # nothing half-written: no queued run without a task
        raise ApiError(503, "unavailable", f"could not enqueue the seeding task ({type(exc).__name__}); retry") from exc
    return json_response({"run_id": run_id, "status": "queued", "city_id": spec["city_id"],
                          "status_url": f"/v1/admin/seed-city/{run_id}"}, 202)


@router.route("GET", "/v1/admin/seed-city/<run_id>")
def seeding_status(request: flask.Request, run_id: str) -> flask.Response:
    require_admin(request)
    if len(run_id) > 64:
        raise bad_request("run_id: too long", "run_id")
    from shared.adapters.aio import run_sync
    from shared.adapters.postgres import get_pool

    async def fetch():
        return await (await get_pool()).fetchrow("SELECT * FROM seed_runs WHERE id = $1", run_id)

    row = run_sync(fetch())
    if row is None:
        raise not_found(f"run_id: no seeding run {run_id!r}", "run_id")
    return json_response(_run_view(row))


@router.route("POST", TASK_PATH)
def run_seeding_task(request: flask.Request) -> flask.Response:
    require_caller(request, "admin", TASKS)
    body = json_body(request)
    run_id = body.get("run_id") if isinstance(body, dict) else None
    if not isinstance(run_id, str) or not run_id:
        raise bad_request("run_id: required", "run_id")

    from shared.adapters.aio import run_sync
    from shared.adapters.postgres import get_pool

    async def claim():
        pool = await get_pool()
        row = await pool.fetchrow(
            "UPDATE seed_runs SET status = 'running', started_at = now(), updated_at = now(), "
            "progress = progress || '{\"stage\": \"starting\"}'::jsonb "
            "WHERE id = $1 AND status = 'queued' RETURNING *", run_id)
        if row is None:
            return None, await pool.fetchval("SELECT status FROM seed_runs WHERE id = $1", run_id)
        return row, "running"

    row, status = run_sync(claim())
    if row is None:
        # Unknown, or already claimed by an earlier delivery: acknowledge so Cloud Tasks stops redelivering.
        return json_response({"run_id": run_id, "status": status or "unknown", "ran": False})
    from shared.adapters.aio import run_apart

    summary = run_apart(lambda: _seed(row))  # minutes of work: never on the loop every request shares
    return json_response({"run_id": run_id, "status": summary["status"], "ran": True})


async def _seed(row) -> dict[str, Any]:
    from shared.adapters.postgres import get_pool
    from shared.domains.travel.catalogue.pipeline import seed_city

    pool = await get_pool()
    run_id = row["id"]
    tagger = (row["progress"] or {}).get("tagger", "auto")
    last = [0.0]

    async def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_S and done < total:
            return
        last[0] = now
        await pool.execute("UPDATE seed_runs SET progress = $2, updated_at = now() WHERE id = $1", run_id,
                           {"stage": stage, "done": done, "total": total, "tagger": tagger})

    try:
        summary = await seed_city(row["city_id"], sources=list(row["sources"]), limit=row["venue_limit"],
                                  tagger=tagger, pool=pool, progress=progress)
    except Exception as exc:  # the run's record carries the failure; the task itself is done
        await pool.execute(
            "UPDATE seed_runs SET status = 'failed', error = $2, finished_at = now(), updated_at = now() WHERE id = $1",
            run_id, f"{type(exc).__name__}: {exc}"[:2000])
        return {"status": "failed"}
    await pool.execute(
        "UPDATE seed_runs SET status = 'succeeded', summary = $2, finished_at = now(), updated_at = now(), "
        "progress = $3 WHERE id = $1",
        run_id, summary.as_dict(), {"stage": "done", "done": summary.venues, "total": summary.venues, "tagger": tagger})
    return {"status": "succeeded"}


# --- models ---------------------------------------------------------------------------------------------------------
TRAINING_QUEUE = "training"
LEARN_TASK_PATH = "/tasks/learn"
LEARN_TIMEOUT_S = 3000


def _model_view(rec) -> dict[str, Any]:
    m = rec.metrics or {}
    evaluations = m.get("evaluations") or {}
    return {"model": rec.served_by, "name": rec.model_name, "version": rec.version, "status": rec.status,
            "artifact_path": rec.artifact_path, "created_at": rec.created_at, "promoted_at": rec.promoted_at,
            "training": m.get("training"), "latest_evaluation": evaluations.get(m.get("latest_evaluation") or ""),
            "promotion": m.get("promotion"), "rollback": m.get("rollback"), "rolled_back": m.get("rolled_back")}


def _reason(request: flask.Request) -> str:
    body = json_body(request)
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        raise bad_request("reason: required, why you are doing this (up to 500 characters)", "reason")
    return reason.strip()


def _registry_call(fn):
    """Run a registry change, mapping its errors to HTTP once: not found 404, a refused transition 409."""
    from shared.adapters.aio import run_sync
    from shared.engine.registry.store import InvalidTransition, ModelNotFound, RegistryConflict

    try:
        return run_sync(fn())
    except ModelNotFound as exc:
        raise not_found(str(exc), "model") from None
    except (InvalidTransition, RegistryConflict) as exc:
        raise ApiError(409, "conflict", str(exc), "status") from None


@router.route("GET", "/v1/admin/models")
def list_registered(request: flask.Request) -> flask.Response:
    require_admin(request)
    from shared.adapters.postgres import get_pool
    from shared.engine.registry.store import list_models

    async def go():
        return await list_models(await get_pool())

    return json_response({"models": [_model_view(r) for r in _registry_call(go)]})


@router.route("POST", "/v1/admin/models/<name>/<version>/promote")
def promote_model(request: flask.Request, name: str, version: str) -> flask.Response:
    require_admin(request)
    reason = _reason(request)
    from shared.adapters.postgres import get_pool
    from shared.engine.registry.store import promote_manually

    async def go():
        return await promote_manually(await get_pool(), name, version, reason, _requested_by(request))

    return json_response(_model_view(_registry_call(go)))


@router.route("POST", "/v1/admin/models/<name>/rollback")
def rollback_model(request: flask.Request, name: str) -> flask.Response:
    require_admin(request)
    reason = _reason(request)
    from shared.adapters.postgres import get_pool
    from shared.engine.registry.store import rollback

    async def go():
        return await rollback(await get_pool(), name, reason, _requested_by(request))

    restored, retired = _registry_call(go)
    return json_response({"restored": _model_view(restored), "retired": _model_view(retired)})


def _learn_args(body: Any) -> list[str]:
    from datetime import date

    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise bad_request("body: expected a JSON object like {\"days\": 28}", "body")
    unknown = sorted(set(body) - {"through", "days"})
    if unknown:
        raise bad_request(f"{unknown[0]}: unexpected field", unknown[0])
    args = []
    if "through" in body:
        try:
            args += ["--through", date.fromisoformat(str(body["through"])).isoformat()]
        except ValueError:
            raise bad_request("through: a date like 2031-06-02", "through") from None
    if "days" in body:
        days = body["days"]
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
            raise bad_request("days: a whole number of days between 1 and 365", "days")
        args += ["--days", str(days)]
    return args


@router.route("POST", "/v1/admin/models/learn")
def request_learning(request: flask.Request) -> flask.Response:
    require_admin(request)
    body = json_body(request, optional=True)
    args = _learn_args(body)  # validated here, so the task cannot fail on its input
    from shared.adapters.tasks import enqueue_http
    from shared.settings import get_settings

    try:
        url = get_settings().function_url("admin") + LEARN_TASK_PATH
        task = enqueue_http(TRAINING_QUEUE, url, body)
    except Exception as exc:
        raise ApiError(503, "unavailable", f"could not enqueue the learning run ({type(exc).__name__}); retry") from exc
    return json_response({"status": "queued", "task": task, "args": args}, 202)


@router.route("POST", LEARN_TASK_PATH)
def run_learning_task(request: flask.Request) -> flask.Response:
    require_caller(request, "admin", TASKS)
    import json
    import subprocess
    import sys

    args = _learn_args(json_body(request))
    done = subprocess.run([sys.executable, "-m", "jobs.learn.main", *args], capture_output=True, text=True,
                          timeout=LEARN_TIMEOUT_S)
    if done.returncode != 0:
        log_tail = (done.stdout + done.stderr)[-2000:]
        raise ApiError(503, "unavailable", f"the learning run failed (exit {done.returncode}); Cloud Tasks will "
                       f"retry: {log_tail}")
    return json_response({"status": "done", "summary": json.loads(done.stdout.strip().splitlines()[-1])})


# --- the operator console -------------------------------------------------------------------------------------------
# /console (and /console/<page>) is one HTML shell; its script (console/app.js) reads every figure from the admin JSON
# routes below, so the console adds no second path to the stores. The browser signs in once: POST
# /v1/admin/console/session with the X-Admin-Token header sets an HttpOnly, SameSite=Strict session cookie that
# require_admin accepts (a cross-site page cannot send it; POSTs also need Content-Type: application/json, which a
# cross-site form cannot send without a CORS preflight nobody answers). Without it every console route answers 401:
# the page routes with the sign-in page as their body.
CONSOLE_DIR = __import__("pathlib").Path(__file__).resolve().parent / "console"
CONSOLE_PAGES = ("models", "reports", "catalogue", "signals", "trips", "alerts")
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml"}
MAX_MINUTES = 24 * 60


def _html(body: str, status: int = 200, nonce: str | None = None) -> flask.Response:
    """A console page: never cached, scripts only from the console itself (the sign-in page's one inline script
    by its nonce), images also from the configured tile server."""
    resp = flask.Response(body, status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    scripts = "'self'" + (f" 'nonce-{nonce}'" if nonce else "")
    resp.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data: https: http:; "
                                               f"style-src 'self' 'unsafe-inline'; script-src {scripts}")
    return resp


def _console_page(request: flask.Request, page: str) -> flask.Response:
    import html
    import os

    try:
        require_admin(request)
    except ApiError as err:
        if err.status != 401 or "text/html" not in request.headers.get("Accept", ""):
            raise  # an API client gets the one JSON error body; a browser gets the sign-in page, still a 401
        import secrets

        nonce = secrets.token_urlsafe(16)
        page_html = (CONSOLE_DIR / "login.html").read_text()
        # an expired session says so; otherwise the browser is simply not signed in yet
        message = err.message if err.field == SESSION_COOKIE else "You are not signed in"
        return _html(page_html.replace("{{message}}", html.escape(message)).replace("{{nonce}}", nonce), 401, nonce)
    if page not in CONSOLE_PAGES:  # after the credential: without it, any /console/... path is a 401
        raise not_found(f"page: no console page {page!r}; one of {', '.join(CONSOLE_PAGES)}", "page")
    # map tiles: off unless CONSOLE_TILE_URL names a tile server ({z}/{x}/{y}); the route draws on a blank map
    tiles = os.environ.get("CONSOLE_TILE_URL", "")
    shell = (CONSOLE_DIR / "index.html").read_text()
    return _html(shell.replace("{{page}}", page).replace("{{tile_url}}", html.escape(tiles, quote=True)))


@router.route("GET", "/console")
def console_home(request: flask.Request) -> flask.Response:
    return _console_page(request, "models")


@router.route("GET", "/console/<page>")
def console_page(request: flask.Request, page: str) -> flask.Response:
    return _console_page(request, page)


@router.route("GET", "/console/static/<name>")
def console_static(request: flask.Request, name: str) -> flask.Response:
    require_admin(request)
    import re

    suffix = name[name.rfind("."):] if "." in name else ""
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,80}", name) or suffix not in STATIC_TYPES:
        raise not_found(f"name: no console asset {name!r}", "name")
    for folder in (CONSOLE_DIR, CONSOLE_DIR / "vendor"):
        path = folder / name
        if path.is_file():
            resp = flask.Response(path.read_bytes(), mimetype=STATIC_TYPES[suffix])
            resp.headers["Cache-Control"] = "private, max-age=300"
            return resp
    raise not_found(f"name: no console asset {name!r} (vendor files are copied by `make install`)", "name")


@router.route("POST", "/v1/admin/console/session")
def console_sign_in(request: flask.Request) -> flask.Response:
    if not request.headers.get(ADMIN_HEADER):  # a cookie cannot renew itself: the credential must be shown
        raise ApiError(401, "unauthenticated", f"admin credential required in the {ADMIN_HEADER} header", ADMIN_HEADER)
    require_admin(request)
    from shared.adapters.secrets import get_secret

    value, expires = _session_value(get_secret("ADMIN_TOKEN"))
    resp = json_response({"signed_in": True, "expires_at": expires})
    secure = request.is_secure or request.headers.get("X-Forwarded-Proto") == "https"
    resp.set_cookie(SESSION_COOKIE, value, max_age=SESSION_TTL_S, httponly=True, samesite="Strict", secure=secure,
                    path="/")
    return resp


@router.route("DELETE", "/v1/admin/console/session")
def console_sign_out(request: flask.Request) -> flask.Response:
    require_admin(request)
    resp = json_response({"signed_in": False})
    resp.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Strict")
    return resp


@router.route("GET", "/v1/admin/signals")
def signals_overview(request: flask.Request) -> flask.Response:
    require_admin(request)
    minutes = int_query(request, "minutes", 1, MAX_MINUTES, 60)
    days = int_query(request, "days", 1, 90, 14)
    from shared.adapters.postgres import with_pool
    from shared.engine.ops.views import llm_cost_days, signal_flow

    async def both(pool):
        return {"flow": await signal_flow(pool, minutes), "llm_cost": await llm_cost_days(pool, days)}

    return json_response(with_pool(both))


@router.route("GET", "/v1/admin/dead-letters")
def dead_letters(request: flask.Request) -> flask.Response:
    require_admin(request)
    limit = int_query(request, "limit", 1, 1000, 100)
    from shared.engine.events.dead_letter_hold import list_held

    try:
        held = list_held(limit)
    except Exception as exc:
        raise ApiError(503, "unavailable", f"the dead-letter hold could not be read ({type(exc).__name__}); retry",
                       headers={"Retry-After": "5"}) from exc
    return json_response({"dead_letters": held})


@router.route("POST", "/v1/admin/dead-letters/replay")
def replay_dead_letters(request: flask.Request) -> flask.Response:
    require_admin(request)
    body = json_body(request)
    if not isinstance(body, dict) or set(body) - {"message_ids"}:
        raise bad_request("body: expected {\"message_ids\": [\"...\"]}", "body")
    ids = body.get("message_ids")
    if not isinstance(ids, list) or not ids or len(ids) > 1000 or not all(
            isinstance(i, str) and 0 < len(i) <= 200 for i in ids):
        raise bad_request("message_ids: required, 1 to 1000 message ids from GET /v1/admin/dead-letters",
                          "message_ids")
    from shared.engine.events.dead_letter_hold import replay_held

    try:
        result = replay_held(ids)
    except Exception as exc:
        raise ApiError(503, "unavailable", f"the dead letters could not be replayed ({type(exc).__name__}); retry",
                       headers={"Retry-After": "5"}) from exc
    return json_response(result)


@router.route("GET", "/v1/admin/catalogue")
def catalogue_overview(request: flask.Request) -> flask.Response:
    require_admin(request)
    from shared.adapters.postgres import with_pool
    from shared.domains.travel.ops_views import catalogue_overview as overview

    return json_response(with_pool(overview))


@router.route("GET", "/v1/admin/reports")
def list_reports(request: flask.Request) -> flask.Response:
    require_admin(request)
    from shared.engine.ops.views import list_reports as listing

    return json_response({"reports": listing(int_query(request, "limit", 1, 500, 50))})


@router.route("GET", "/v1/admin/reports/<run_id>")
def read_report(request: flask.Request, run_id: str) -> flask.Response:
    require_admin(request)
    import re

    if not re.fullmatch(r"[A-Za-z0-9._:-]{1,200}", run_id):
        raise bad_request("run_id: letters, digits and . _ : - only", "run_id")
    from shared.engine.ops.views import read_report as read

    report = read(run_id)
    if report is None:
        raise not_found(f"run_id: no evaluation report {run_id!r}", "run_id")
    return json_response(report)


@router.route("GET", "/v1/admin/trips/<trip_id>")
def operator_trip(request: flask.Request, trip_id: str) -> flask.Response:
    require_admin(request)
    if len(trip_id) > 64:
        raise bad_request("trip_id: too long (at most 64 characters)", "trip_id")
    from shared.adapters.postgres import with_pool
    from shared.domains.travel.ops_views import trip_for_operator

    trip = with_pool(lambda pool: trip_for_operator(pool, trip_id))
    if trip is None:
        raise not_found(f"trip_id: no trip {trip_id!r}", "trip_id")
    return json_response(trip)


@router.route("GET", "/v1/admin/alerts")
def alerts_now(request: flask.Request) -> flask.Response:
    require_admin(request)
    from shared.adapters.postgres import with_pool
    from shared.engine.alerts import evaluate_all

    return json_response({"rules": with_pool(evaluate_all)})


@functions_framework.http
@endpoint
def handle(request: flask.Request) -> flask.Response:
    return router.dispatch(request)

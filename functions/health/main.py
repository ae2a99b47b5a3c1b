"""GET /v1/health: 200 only when every dependency is up, 503 naming the failing ones."""
from __future__ import annotations

import functions_framework
import flask

from shared.api.http import Router, endpoint, json_response

router = Router()


@router.route("GET", "/v1/health")
def health(_request: flask.Request) -> flask.Response:
    from shared.health import check_all

    deps = check_all()
    down = sorted(name for name, state in deps.items() if state["status"] != "up")
    body = {"status": "down" if down else "up", "dependencies": deps}
    if down:
        body["failing"] = down
    return json_response(body, 503 if down else 200)


@functions_framework.http
@endpoint
def handle(request: flask.Request) -> flask.Response:
    return router.dispatch(request)

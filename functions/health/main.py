"""GET /v1/health/live: the process answers (no dependency is called; what an uptime check or a load balancer
polls). GET /v1/health: 200 only when every dependency is up, 503 naming the failing ones. The full check probes
six services, so an all-up answer is shared by every caller for HEALTH_CACHE_S per instance (`cached` and
`checked_at` say so): a public route must not let a flood of callers fan out to every dependency. A failing
answer is never reused, so a recovery shows at once."""
from __future__ import annotations

import functions_framework
import flask

from shared.api.http import Router, endpoint, json_response

router = Router()
HEALTH_CACHE_S = 5.0
_last_up: dict[str, object] = {}


@router.route("GET", "/v1/health/live")
def live(_request: flask.Request) -> flask.Response:
    return json_response({"status": "alive"})


@router.route("GET", "/v1/health")
def health(_request: flask.Request) -> flask.Response:
    import time
    from datetime import datetime, timezone

    from shared.health import check_all

    if _last_up and time.monotonic() - float(_last_up["at"]) < HEALTH_CACHE_S:
        return json_response({**_last_up["body"], "cached": True})
    deps = check_all()
    down = sorted(name for name, state in deps.items() if state["status"] != "up")
    body = {"status": "down" if down else "up", "dependencies": deps,
            "checked_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if down:
        body["failing"] = down
        _last_up.clear()
    else:
        _last_up.update(at=time.monotonic(), body=body)
    return json_response({**body, "cached": False}, 503 if down else 200)


@functions_framework.http
@endpoint
def handle(request: flask.Request) -> flask.Response:
    return router.dispatch(request)

"""A test-only Cloud Run function: records every request it receives in Redis, so a test can see that a
Pub/Sub push or a Cloud Task really reached a functions-framework process."""
import json

import flask
import functions_framework

from shared.adapters.redis_cache import get_redis


@functions_framework.http
def handle(request: flask.Request):
    record = {"path": request.path, "headers": dict(request.headers), "body": request.get_data(as_text=True)}
    get_redis().rpush("echo:received", json.dumps(record))
    return ("", 204)

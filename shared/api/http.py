"""Glue between functions-framework (Flask) requests and the shared error model.

`endpoint` wraps a function's entry point: ApiError becomes its 4xx body, a domain error (shared.domains.errors)
its 400/404/409, pydantic errors become a 400 naming the field, and anything unexpected is logged and answered as a 500 without internals.
"""
from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

import flask
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, RequestRedirect, Rule

from shared.adapters.secrets import SecretUnavailable
from shared.adapters.unavailable import unavailable_dependency
from shared.api import json_input
from shared.api.errors import ApiError, bad_request, from_validation_error, unauthenticated
from shared.domains.errors import DomainError

log = logging.getLogger("concierge.api")
M = TypeVar("M", bound=BaseModel)

USERINFO_HEADER = "X-Apigateway-Api-Userinfo"
_SLASHES = re.compile(r"/{2,}")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> flask.Response:
    resp = flask.Response(json.dumps(body, default=str), status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def error_response(err: ApiError) -> flask.Response:
    return json_response(err.body(), err.status, err.headers)


MAX_BODY_BYTES = 2_000_000
JSON_TYPES = ("application/json",)


def json_body(request: flask.Request, *, max_bytes: int = MAX_BODY_BYTES, optional: bool = False) -> Any:
    """The request's JSON document, strictly parsed (shared.api.json_input says what is refused and why);
    with optional=True an empty body is {} (a PATCH may send none).

    The size limit is enforced while reading, so a chunked body without Content-Length cannot get past it."""
    if request.content_length and request.content_length > max_bytes:
        raise ApiError(413, "payload_too_large", f"body is larger than {max_bytes} bytes", "body")
    # werkzeug stops a streamed (chunked) body at max_content_length without saying so: read one byte more
    # than allowed, and a body that fills it is too large
    request.max_content_length = max_bytes + 1
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raw = None
    if raw is None or len(raw) > max_bytes:
        raise ApiError(413, "payload_too_large", f"body is larger than {max_bytes} bytes", "body")
    if not raw.strip():
        if optional:
            return {}
        raise bad_request("request body is empty; send a JSON document", "body")
    if request.mimetype not in JSON_TYPES and not request.mimetype.endswith("+json"):
        raise ApiError(415, "unsupported_media_type",
                       f"Content-Type must be application/json, not {request.mimetype or 'missing'}", "Content-Type")
    try:
        return json_input.loads(raw)
    except json_input.InvalidJson as exc:
        raise bad_request(exc.message, exc.field) from None


def int_query(request: flask.Request, name: str, low: int, high: int, default: int | None = None) -> int | None:
    """A whole-number query parameter within [low, high]; `default` when absent; else a 400 naming it."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise bad_request(f"{name}: a whole number from {low} to {high}", name)
    return int(raw)


def check_text(value: str, field: str) -> str:
    """A path id or query value: the rule body strings follow (no NUL or control characters)."""
    if json_input.has_control_characters(value):
        raise bad_request("contains a NUL or control character; remove it", field)
    return value


def parse(model: type[M], data: Any, prefix: str = "") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc, prefix) from None


def current_user(request: flask.Request) -> str:
    """The authenticated caller, as API Gateway forwards it after validating the JWT.

    Functions are not publicly invokable (only the gateway's service account may call them), which is
    what makes trusting this header sound.
    """
    raw = request.headers.get(USERINFO_HEADER)
    if not raw:
        raise unauthenticated("no authenticated user: call through the gateway with a bearer token")
    try:
        padded = raw + "=" * (-len(raw) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
        sub = str(claims["sub"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise unauthenticated("unreadable identity forwarded by the gateway") from None
    if not sub or len(sub) > 128:
        raise unauthenticated("identity has an empty or oversize subject")
    return sub


DOMAIN_STATUS = {"invalid": 400, "forbidden": 403, "not_found": 404, "conflict": 409}


def from_domain_error(err: DomainError) -> ApiError:
    """The one mapping from a domain's error to HTTP: invalid → 400, forbidden → 403, not found → 404,
    conflict → 409."""
    return ApiError(DOMAIN_STATUS[err.kind], err.code, err.message, err.field)


def endpoint(fn: Callable[[flask.Request], flask.Response]) -> Callable[[flask.Request], flask.Response]:
    @functools.wraps(fn)
    def wrapper(request: flask.Request) -> flask.Response:
        try:
            return fn(request)
        except ApiError as err:
            return error_response(err)
        except DomainError as err:
            return error_response(from_domain_error(err))
        except SecretUnavailable as exc:
            log.error("%s", exc)
            return json_response({"error": {"code": "unavailable", "message": str(exc)}}, 503)
        except HTTPException as exc:  # werkzeug's own 4xx (a malformed request it refused to read)
            if exc.code is None or exc.code >= 500:
                raise
            return json_response({"error": {"code": exc.name.lower().replace(" ", "_"),
                                            "message": exc.description or exc.name}}, exc.code)
        except Exception as exc:
            dependency = unavailable_dependency(exc)
            if dependency:
                log.warning("%s %s: %s unavailable (%s)", request.method, request.path, dependency, type(exc).__name__)
                return json_response({"error": {"code": "unavailable", "message": f"{dependency} is unavailable "
                                                f"({type(exc).__name__}); retry shortly"}},
                                     503, {"Retry-After": "5"})
            log.exception("unhandled error in %s %s", request.method, request.path)
            return json_response({"error": {"code": "internal", "message": "internal error; it has been logged"}}, 500)

    return wrapper


class Router:
    """Routes within one endpoint family (one function), using werkzeug's URL map."""

    def __init__(self) -> None:
        self._map = Map(strict_slashes=False, merge_slashes=False)
        self._handlers: dict[str, Callable[..., flask.Response]] = {}

    def route(self, method: str, pattern: str) -> Callable:
        def register(handler: Callable[..., flask.Response]) -> Callable[..., flask.Response]:
            endpoint_name = f"{method} {pattern}"
            self._map.add(Rule(pattern, methods=[method], endpoint=endpoint_name))
            self._handlers[endpoint_name] = handler
            return handler

        return register

    def dispatch(self, request: flask.Request) -> flask.Response:
        """Repeated slashes are one (a path that decodes to '//' is the same route, never a redirect); a path
        id with a control character is a 400 naming that id."""
        path = _SLASHES.sub("/", request.path)
        adapter = self._map.bind("local", path_info=path)
        try:
            name, args = adapter.match(method=request.method)
        except (NotFound, RequestRedirect):
            raise ApiError(404, "not_found", f"no route for {request.method} {path}", "path") from None
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or []))
            raise ApiError(405, "method_not_allowed", f"{request.method} is not allowed here; use {allowed}", "method") from None
        for key, value in args.items():
            if isinstance(value, str):
                check_text(value, key)
        return self._handlers[name](request, **args)

"""The one error model. Every 4xx body names the offending field so a client can fix its request:

    {"error": {"code": "invalid_argument", "message": "...", "field": "end_date", "details": [...]}}
"""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None, details: list[Any] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.details = details or []
        self.headers = headers or {}   # e.g. Retry-After on a 429 or a 503

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            err["field"] = self.field
        if self.details:
            err["details"] = self.details
        return {"error": err}


def bad_request(message: str, field: str | None = None, details: list[Any] | None = None) -> ApiError:
    return ApiError(400, "invalid_argument", message, field, details)


def not_found(message: str, field: str | None = None) -> ApiError:
    return ApiError(404, "not_found", message, field)


def unauthenticated(message: str = "missing or invalid credentials") -> ApiError:
    return ApiError(401, "unauthenticated", message, "Authorization")


def forbidden(message: str) -> ApiError:
    return ApiError(403, "permission_denied", message)


def too_many_requests(message: str, retry_after_s: int) -> ApiError:
    return ApiError(429, "resource_exhausted", message, None, None, {"Retry-After": str(retry_after_s)})


def field_path(loc: tuple[Any, ...]) -> str:
    """pydantic's ('days', 0, 'name') -> 'days[0].name'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def from_validation_error(exc: ValidationError, prefix: str = "") -> ApiError:
    details = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        path = field_path(tuple(err["loc"]))
        if prefix:
            path = f"{prefix}.{path}" if not path.startswith("[") else f"{prefix}{path}"
        details.append({"field": path, "message": err["msg"]})
    first = details[0]
    return bad_request(f"{first['field']}: {first['message']}", first["field"], details)

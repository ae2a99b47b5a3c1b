"""Errors every domain raises. Domain code says *what* went wrong (the request is invalid, the thing is not
there, it conflicts with the current state); the function layer decides what that means in HTTP, in one
place (shared.api.http.endpoint). Each error names the request field it is about, so the 4xx body can too.
"""
from __future__ import annotations


class DomainError(Exception):
    kind = "invalid"          # invalid | forbidden | not_found | conflict
    code = "invalid_argument"

    def __init__(self, message: str, field: str | None = None, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class InvalidRequest(DomainError):
    """The request cannot be served as asked (an unknown city, a group member without a persona)."""


class NotFound(DomainError):
    kind = "not_found"
    code = "not_found"


class Conflict(DomainError):
    """The request is well formed but the current state forbids it (a closed trip, no fallback left)."""
    kind = "conflict"
    code = "failed_precondition"


class Forbidden(DomainError):
    """The caller may see the thing but not do this to it (a member removing another member: only the owner may)."""
    kind = "forbidden"
    code = "permission_denied"

"""Who may call a push or task handler: in the cloud, only Pub/Sub or Cloud Tasks, proven by the Google-signed OIDC
ID token they attach (`Authorization: Bearer <token>`).

Cloud Run's IAM check already refuses callers without run.invoker, but it accepts any principal that holds it, and
some services have several (admin is invoked by the gateway's account and by the tasks account). This check pins
each route to the one account meant to call it, and to tokens minted for this function (the audience), so that a
token meant for another service cannot be replayed here.

    require_caller(request, "signal_sink", PUSH)     # first line of a push handler
    require_caller(request, "prewarm", TASKS)        # first line of a task handler

The audience is the function's own URL (settings.function_url): Pulumi sets it as the push subscription's audience;
Cloud Tasks uses the task's URL, which may carry the route's path. The expected accounts are PUSH_SERVICE_ACCOUNT and
TASKS_SERVICE_ACCOUNT. The local stack exports CALLER_AUTH=local (its emulators attach no token); that choice is
made once per process, when the verifier is built from settings, never per request.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import flask

from shared.api.errors import ApiError, forbidden, unauthenticated
from shared.settings import Settings, get_settings

PUSH = "push"    # Pub/Sub push subscriptions
TASKS = "tasks"  # Cloud Tasks queues
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"  # what verify_oauth2_token checks against
CLOCK_SKEW_S = 10
_MAX_AGE = re.compile(r"max-age=(\d+)")


class CachedCerts:
    """A google-auth transport that keeps Google's signing certificates as long as their Cache-Control says.

    google-auth fetches the certificates on every verification; they change a few times a day, so each instance
    fetches them about that often instead of once per pushed message."""

    def __init__(self, inner: Callable[..., Any], *, clock: Callable[[], float] = time.monotonic,
                 default_ttl_s: float = 300.0) -> None:
        self._inner = inner
        self._clock = clock
        self._default_ttl_s = default_ttl_s
        self._cached: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, url: str, method: str = "GET", body=None, headers=None, timeout=None, **kwargs) -> Any:
        if method != "GET":
            return self._inner(url, method=method, body=body, headers=headers, timeout=timeout, **kwargs)
        now = self._clock()
        with self._lock:
            hit = self._cached.get(url)
        if hit and hit[0] > now:
            return hit[1]
        response = self._inner(url, method="GET", headers=headers, timeout=timeout or 10, **kwargs)
        if response.status == 200:
            with self._lock:
                self._cached[url] = (now + self._ttl(response.headers), response)
        return response

    def _ttl(self, headers: Mapping[str, str]) -> float:
        control = {k.lower(): v for k, v in (headers or {}).items()}.get("cache-control", "")
        found = _MAX_AGE.search(control)
        return float(found.group(1)) if found else self._default_ttl_s


def _google_transport() -> Callable[..., Any]:
    from google.auth.transport.requests import Request

    return CachedCerts(Request())


class OidcCallers:
    """Verifies the caller's Google ID token: signature and expiry (google-auth), issuer, audience, and email."""

    def __init__(self, accounts: Mapping[str, str], function_urls: Callable[[str], str],
                 transport: Callable[..., Any], certs_url: str = GOOGLE_CERTS_URL) -> None:
        self._accounts = dict(accounts)
        self._function_url = function_urls
        self._transport = transport
        self._certs_url = certs_url

    def verify(self, request: flask.Request, function: str, invoker: str) -> dict[str, Any]:
        expected = self._accounts.get(invoker)
        if not expected:
            # fail closed: without the expected account nothing can be accepted
            raise ApiError(500, "misconfigured", f"{invoker.upper()}_SERVICE_ACCOUNT is not set: cannot verify the "
                                                 f"caller of {function}")
        claims = self._claims(_bearer(request))
        audience = self._function_url(function).rstrip("/")
        if claims.get("aud") not in (audience, audience + request.path):
            raise forbidden(f"the caller's token is for {claims.get('aud')!r}, not for this function ({audience})")
        if claims.get("email") != expected or claims.get("email_verified") is not True:
            raise forbidden(f"the caller {claims.get('email')!r} is not the {invoker} invoker account")
        return claims

    def _claims(self, token: str) -> dict[str, Any]:
        # imported here: google-auth's JWT stack costs ~0.3 s, and only the cloud (oidc) mode needs it, never a
        # cold start or the local stack
        from google.auth import exceptions as auth_exceptions
        from google.oauth2 import id_token

        try:
            claims = id_token.verify_token(token, self._transport, audience=None, certs_url=self._certs_url,
                                           clock_skew_in_seconds=CLOCK_SKEW_S)
        except auth_exceptions.TransportError as exc:
            raise ApiError(503, "unavailable", f"cannot fetch Google's signing certificates: {exc}") from None
        except (ValueError, auth_exceptions.GoogleAuthError) as exc:
            raise unauthenticated(f"invalid OIDC token: {exc}") from None
        if claims.get("iss") not in ("accounts.google.com", "https://accounts.google.com"):
            raise unauthenticated(f"the token was not issued by Google (iss {claims.get('iss')!r})")
        return dict(claims)


class LocalCallers:
    """The local stack: Pub/Sub's and Cloud Tasks' emulators attach no token, and nothing outside reaches it."""

    def verify(self, request: flask.Request, function: str, invoker: str) -> dict[str, Any]:
        return {}


def _bearer(request: flask.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthenticated("missing OIDC token: expected Authorization: Bearer <Google-signed ID token>")
    return token.strip()


def from_settings(settings: Settings, transport: Callable[..., Any] | None = None) -> OidcCallers | LocalCallers:
    if settings.caller_auth == "local":
        return LocalCallers()
    if settings.caller_auth != "oidc":
        raise ValueError(f"CALLER_AUTH must be 'oidc' or 'local', not {settings.caller_auth!r}")
    return OidcCallers({PUSH: settings.push_service_account, TASKS: settings.tasks_service_account},
                       settings.function_url, transport or _google_transport())


_built: tuple[Settings, OidcCallers | LocalCallers] | None = None


def verifier() -> OidcCallers | LocalCallers:
    """The process's verifier, rebuilt only when the settings object is (tests clear the settings cache)."""
    global _built
    settings = get_settings()
    if _built is None or _built[0] is not settings:
        _built = (settings, from_settings(settings))
    return _built[1]


def require_caller(request: flask.Request, function: str, invoker: str) -> None:
    """The first line of a push or task handler: a 401/403 ApiError unless the caller is `invoker`'s account."""
    verifier().verify(request, function, invoker)

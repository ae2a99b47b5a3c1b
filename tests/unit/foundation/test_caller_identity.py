"""Push and task handlers verify their caller's Google-signed OIDC token (shared/api/caller_identity.py).

No network: tokens are minted here with a generated RSA key, and Google's certificate endpoint is replaced by a
transport that answers in its wire format (a JSON object of key id -> PEM X.509 certificate, with Cache-Control)."""
from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field

import flask
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt
from google.auth import exceptions as auth_exceptions

from shared.api import caller_identity
from shared.api.caller_identity import PUSH, TASKS, CachedCerts, LocalCallers, OidcCallers, from_settings
from shared.api.errors import ApiError
from shared.settings import get_settings, load_settings

KID = "test-key-1"
FUNCTION_URL = "https://fn-signal-sink-123.europe-west1.run.app"
PUSH_SA = "push-pubsub@proj.iam.gserviceaccount.com"
TASKS_SA = "tasks-invoker@proj.iam.gserviceaccount.com"
app = flask.Flask(__name__)


def _keypair(name: str) -> tuple[bytes, bytes]:
    """(private key PEM, self-signed certificate PEM), as Google publishes its signing keys."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return private, cert.public_bytes(serialization.Encoding.PEM)


GOOGLE_KEY, GOOGLE_CERT = _keypair("google")
OTHER_KEY, _OTHER_CERT = _keypair("someone else")


@dataclass
class _Response:
    status: int
    headers: dict
    data: bytes


@dataclass
class CertsEndpoint:
    """Google's certificate endpoint, as google-auth's transport Request sees it."""
    status: int = 200
    calls: list[str] = field(default_factory=list)

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        self.calls.append(url)
        if self.status != 200:
            return _Response(self.status, {}, b"unavailable")
        return _Response(200, {"Cache-Control": "public, max-age=20000, must-revalidate, no-transform",
                               "Content-Type": "application/json; charset=UTF-8"},
                         json.dumps({KID: GOOGLE_CERT.decode()}).encode())


def token(*, aud: str = FUNCTION_URL, email: str = PUSH_SA, key: bytes = GOOGLE_KEY, iss="https://accounts.google.com",
          expires_in: int = 3600, **extra) -> str:
    now = int(time.time())
    claims = {"iss": iss, "aud": aud, "email": email, "email_verified": True, "sub": "1234567890",
              "iat": now - 10 if expires_in > 0 else now - 7200, "exp": now + expires_in, **extra}
    return jwt.encode(crypt.RSASigner.from_string(key, key_id=KID), claims).decode()


def request(path: str = "/", auth: str | None = None) -> flask.Request:
    headers = {"Authorization": auth} if auth is not None else {}
    with app.test_request_context(path, method="POST", headers=headers):
        return flask.request._get_current_object()


@pytest.fixture
def certs() -> CertsEndpoint:
    return CertsEndpoint()


@pytest.fixture
def verifier(certs) -> OidcCallers:
    urls = {"signal_sink": FUNCTION_URL, "pivot_outcomes": "https://fn-pivot-outcomes-123.europe-west1.run.app"}
    return OidcCallers({PUSH: PUSH_SA, TASKS: TASKS_SA}, urls.__getitem__, CachedCerts(certs))


def status_of(verifier, req, function="signal_sink", invoker=PUSH) -> int:
    try:
        verifier.verify(req, function, invoker)
    except ApiError as exc:
        return exc.status
    return 200


def test_a_token_for_this_function_from_the_expected_account_passes(verifier):
    claims = verifier.verify(request(auth=f"Bearer {token()}"), "signal_sink", PUSH)
    assert claims["email"] == PUSH_SA and claims["aud"] == FUNCTION_URL


def test_cloud_tasks_audience_may_carry_the_route_path(verifier):
    url = "https://fn-pivot-outcomes-123.europe-west1.run.app"
    task = token(aud=url + "/tasks/resolve", email=TASKS_SA)
    assert status_of(verifier, request("/tasks/resolve", f"Bearer {task}"), "pivot_outcomes", TASKS) == 200
    # ...but only its own path: a token minted for another route of the service is not this one's
    other = token(aud=url + "/elsewhere", email=TASKS_SA)
    assert status_of(verifier, request("/tasks/resolve", f"Bearer {other}"), "pivot_outcomes", TASKS) == 403


def test_a_token_for_another_service_is_refused(verifier):
    assert status_of(verifier, request(auth=f"Bearer {token(aud='https://fn-trips-123.europe-west1.run.app')}")) == 403


def test_a_token_of_another_account_is_refused(verifier):
    assert status_of(verifier, request(auth=f"Bearer {token(email='attacker@proj.iam.gserviceaccount.com')}")) == 403
    # the tasks account is not the push account either
    assert status_of(verifier, request(auth=f"Bearer {token(email=TASKS_SA)}")) == 403
    assert status_of(verifier, request(auth=f"Bearer {token(email_verified=False)}")) == 403


@pytest.mark.parametrize("auth", [None, "", "Bearer ", "Basic dXNlcjpwYXNz", "not-a-bearer-token"])
def test_a_missing_or_malformed_header_is_unauthenticated(verifier, auth):
    try:
        verifier.verify(request(auth=auth), "signal_sink", PUSH)
    except ApiError as exc:
        assert exc.status == 401 and exc.field == "Authorization" and "Bearer" in exc.message
    else:
        pytest.fail("accepted a request without a token")


def test_expired_forged_garbled_or_foreign_tokens_are_unauthenticated(verifier):
    assert status_of(verifier, request(auth=f"Bearer {token(expires_in=-3600)}")) == 401
    assert status_of(verifier, request(auth=f"Bearer {token(key=OTHER_KEY)}")) == 401  # signed with another key
    assert status_of(verifier, request(auth="Bearer abc.def.ghi")) == 401
    assert status_of(verifier, request(auth=f"Bearer {token(iss='https://evil.example')}")) == 401


def test_googles_certificates_are_fetched_once_while_fresh(certs):
    clock = [1000.0]
    verifier = OidcCallers({PUSH: PUSH_SA}, {"signal_sink": FUNCTION_URL}.__getitem__,
                           CachedCerts(certs, clock=lambda: clock[0]))
    for _ in range(3):
        verifier.verify(request(auth=f"Bearer {token()}"), "signal_sink", PUSH)
    assert certs.calls == [caller_identity.GOOGLE_CERTS_URL]
    clock[0] += 20001  # past the endpoint's max-age
    verifier.verify(request(auth=f"Bearer {token()}"), "signal_sink", PUSH)
    assert len(certs.calls) == 2


def test_unreachable_certificates_are_a_503_so_the_sender_retries():
    verifier = OidcCallers({PUSH: PUSH_SA}, {"signal_sink": FUNCTION_URL}.__getitem__, CertsEndpoint(status=503))
    assert status_of(verifier, request(auth=f"Bearer {token()}")) == 503


def test_an_unset_invoker_account_fails_closed(certs):
    verifier = OidcCallers({PUSH: ""}, {"signal_sink": FUNCTION_URL}.__getitem__, certs)
    assert status_of(verifier, request(auth=f"Bearer {token()}")) == 500
    assert certs.calls == []


def test_the_mode_is_chosen_once_from_settings(monkeypatch, certs):
    monkeypatch.setenv("CALLER_AUTH", "local")
    local = from_settings(load_settings(), certs)
    assert isinstance(local, LocalCallers)
    assert local.verify(request(), "signal_sink", PUSH) == {} and certs.calls == []  # no token, no fetch
    monkeypatch.setenv("CALLER_AUTH", "oidc")
    assert isinstance(from_settings(load_settings(), certs), OidcCallers)
    monkeypatch.delenv("CALLER_AUTH")
    assert isinstance(from_settings(load_settings(), certs), OidcCallers)  # the default: verify
    monkeypatch.setenv("CALLER_AUTH", "off")
    with pytest.raises(ValueError, match="CALLER_AUTH"):
        from_settings(load_settings(), certs)


# --- the handlers call it first --------------------------------------------------------------------------

ROUTES = [("signal_sink", "/", PUSH), ("pivot_outcomes", "/", PUSH), ("prewarm", "/", TASKS),
          ("pivot_outcomes", "/tasks/resolve", TASKS), ("admin", "/tasks/seed-city", TASKS),
          ("admin", "/tasks/learn", TASKS)]


@pytest.fixture
def cloud(monkeypatch, certs):
    """The environment Pulumi gives a function, with Google's certificates served by the fake endpoint."""
    monkeypatch.setenv("CALLER_AUTH", "oidc")
    monkeypatch.setenv("PUSH_SERVICE_ACCOUNT", PUSH_SA)
    monkeypatch.setenv("TASKS_SERVICE_ACCOUNT", TASKS_SA)
    for name in ("signal_sink", "pivot_outcomes", "prewarm", "admin"):
        monkeypatch.setenv(f"FUNCTION_URL_{name.upper()}", f"https://fn-{name.replace('_', '-')}-123.europe-west1.run.app")
    monkeypatch.setattr(caller_identity, "_google_transport", lambda: CachedCerts(certs))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _call(function: str, path: str, auth: str | None) -> flask.Response:
    import importlib

    handle = importlib.import_module(f"functions.{function}.main").handle
    headers = {"Content-Type": "application/json", **({"Authorization": auth} if auth else {})}
    with app.test_request_context(path, method="POST", data='{"unexpected": 1}', headers=headers):
        return handle(flask.request)


@pytest.mark.parametrize("function,path,invoker", ROUTES)
def test_every_push_and_task_route_verifies_its_caller_before_reading_the_body(cloud, function, path, invoker):
    assert _call(function, path, None).status_code == 401
    wrong = PUSH_SA if invoker == TASKS else TASKS_SA
    url = f"https://fn-{function.replace('_', '-')}-123.europe-west1.run.app"
    assert _call(function, path, f"Bearer {token(aud=url, email=wrong)}").status_code == 403
    right = TASKS_SA if invoker == TASKS else PUSH_SA
    # past the check, a body that is not the route's is refused by its own validation (no store is touched)
    passed = _call(function, path, f"Bearer {token(aud=url + path.rstrip('/'), email=right)}")
    assert passed.status_code == 400, passed.get_data(as_text=True)

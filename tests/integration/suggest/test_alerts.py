"""The local alert command (emulators.suggest_alerts) on the real suggest function: quiet under normal traffic, the
latency alert on an injected latency fault, the error-rate alert on an injected error burst.

The function runs in this process behind a real HTTP server (so faults can be injected into its request path), on
the session's real Postgres with a model trained and promoted by jobs.suggest_retrain (artifacts in a temporary
folder). Pub/Sub points at a closed port: impressions fail to publish in the background, which is also what proves
that publishing never blocks a response.
"""
from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from emulators.stack import free_port

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def function_url(pg_dsn, tmp_path_factory):
    import os

    from werkzeug.serving import make_server

    was = os.environ.get("PUBSUB_EMULATOR_HOST")  # the session's stack may have set it: put it back afterwards
    os.environ["PUBSUB_EMULATOR_HOST"] = f"127.0.0.1:{free_port()}"   # nothing listens there
    from shared.adapters import pubsub

    pubsub._publisher.cache_clear()  # the publisher is made once per process: make it for the dead host, and
    from jobs.suggest_retrain.main import main as retrain

    retrain(["--rankers", "logistic", "--resamples", "200",
             "--artifact-dir", str(tmp_path_factory.mktemp("suggest-artifacts"))])
    import functions_framework

    app = functions_framework.create_app(target="handle", source=str(REPO / "functions" / "suggest" / "main.py"))
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    if was is None:
        os.environ.pop("PUBSUB_EMULATOR_HOST", None)
    else:
        os.environ["PUBSUB_EMULATOR_HOST"] = was
    pubsub._publisher.cache_clear()  # ... again afterwards for whatever the process talks to next


def _control_users(n: int) -> list[str]:
    from shared.domains.catalogues.suggest.ab import assign
    from shared.domains.catalogues.suggest.config import get_config

    exp = get_config().experiment_of("home")
    return [u for u in (f"alert-user-{i}" for i in range(10 * n)) if assign(exp, u).name == "control"][:n]


def _traffic(url: str, users: list[str]) -> list[int]:
    body = {"surface": "home", "limit": 3, "context": {"device": "mobile", "current_action": "browse",
                                                      "timestamp": datetime.now(UTC).isoformat(), "session_length": 30}}
    with httpx.Client(timeout=30) as client:
        return [client.post(f"{url}/v1/suggest", json={**body, "user_id": u}).status_code for u in users]


def _alerts(url: str, before: dict) -> dict[str, bool]:
    from emulators.suggest_alerts import scrape
    from shared.api.suggest_metrics import delta, evaluate

    return {s.rule.name: s.firing for s in evaluate(delta(before, scrape(f"{url}/metrics")))}


def test_quiet_then_latency_fault_then_error_burst(function_url, monkeypatch, capsys):
    from emulators.suggest_alerts import main, scrape
    from shared.domains.catalogues.suggest import serve

    users = _control_users(60)
    assert set(_traffic(function_url, users[:5])) == {200}           # warm: catalogue and model loaded
    before = scrape(f"{function_url}/metrics")
    assert set(_traffic(function_url, users)) == {200}
    quiet = _alerts(function_url, before)
    assert quiet == {"suggest-latency-p99": False, "suggest-error-rate": False, "suggest-coverage": False}
    # the command itself, over a window of normal traffic (a window: the cold start's first request, which loads
    # the catalogue and the model, is an honest slow outlier of the instance's lifetime)
    codes: list[int] = []
    exit_code: list[int] = []
    runner = threading.Thread(target=lambda: exit_code.append(
        main(["--url", f"{function_url}/metrics", "--window", "2"])))
    runner.start()
    time.sleep(0.3)
    codes += _traffic(function_url, users[:40])
    runner.join()
    assert set(codes) == {200} and exit_code == [0]
    assert "0 alert(s) would fire" in capsys.readouterr().out

    # latency fault: the registry lookup (a Postgres round trip) takes 200 ms
    original = serve.MODELS.get

    async def slow_get(conn, name):
        await asyncio.sleep(0.2)
        return await original(conn, name)

    monkeypatch.setattr(serve.MODELS, "get", slow_get)
    before = scrape(f"{function_url}/metrics")
    assert set(_traffic(function_url, users[:20])) == {200}
    slow = _alerts(function_url, before)
    assert slow == {"suggest-latency-p99": True, "suggest-error-rate": False, "suggest-coverage": False}
    monkeypatch.setattr(serve.MODELS, "get", original)

    # error burst: the catalogue cannot be read
    def broken():
        raise RuntimeError("injected fault: the suggestion catalogue is unreadable")

    before = scrape(f"{function_url}/metrics")
    assert set(_traffic(function_url, users[:10])) == {200}
    monkeypatch.setattr(serve, "get_catalogue", broken)
    monkeypatch.setattr(serve, "_catalogue_ready", lambda: True)
    assert set(_traffic(function_url, users[:5])) == {500}
    burst = _alerts(function_url, before)
    assert burst["suggest-error-rate"] is True and burst["suggest-latency-p99"] is False
    assert main(["--url", f"{function_url}/metrics", "--window", "0"]) == 1
    out = capsys.readouterr().out
    assert "FIRING suggest-error-rate" in out and "FIRING suggest-latency-p99" in out


def _loaded_model():
    from shared.domains.catalogues.suggest import serve

    model, reason = serve.MODELS._cache["suggest-logistic"][:2]
    assert model is not None, reason
    return model


def test_a_slow_or_failing_model_falls_back_labelled(function_url, monkeypatch):
    from shared.domains.catalogues.suggest import serve

    user = _control_users(1)[0]
    body = {"user_id": user, "surface": "home", "limit": 3,
            "context": {"device": "desktop", "current_action": "view_item", "current_item": 5,
                        "timestamp": datetime.now(UTC).isoformat(), "session_length": 10}}
    with httpx.Client(timeout=30) as client:
        ok = client.post(f"{function_url}/v1/suggest", json=body).json()
        assert ok["served_by"].startswith("suggest-logistic@") and ok["fallback_reason"] is None
        model = _loaded_model()
        real = model.ranker.predict_proba

        def slow(X):
            time.sleep(serve.TIMEOUT_S * 4)
            return real(X)

        monkeypatch.setattr(model.ranker, "predict_proba", slow)
        answer = client.post(f"{function_url}/v1/suggest", json=body).json()
        assert answer["served_by"] == "rule" and answer["model_version"] == "rule-ctr-x-position"
        assert answer["fallback_reason"] == f"{model.served_by} timed out after {serve.TIMEOUT_S * 1000:.0f} ms"
        assert len(answer["items"]) == 3

        def broken(X):
            raise RuntimeError("injected: the model cannot score")

        monkeypatch.setattr(model.ranker, "predict_proba", broken)
        answer = client.post(f"{function_url}/v1/suggest", json=body).json()
        assert answer["served_by"] == "rule"
        assert answer["fallback_reason"] == f"{model.served_by} failed (RuntimeError)"
        monkeypatch.setattr(model.ranker, "predict_proba", real)
        assert client.post(f"{function_url}/v1/suggest", json=body).json()["served_by"] == model.served_by
        metrics = client.get(f"{function_url}/metrics").text
    assert 'suggest_fallbacks_total{reason="timeout"}' in metrics
    assert 'suggest_fallbacks_total{reason="model_error"}' in metrics


def test_a_loaded_model_keeps_serving_while_the_registry_is_unreachable(function_url, monkeypatch):
    from shared.domains.catalogues.suggest import serve
    from shared.engine.registry import store

    control = _control_users(1)[0]
    from shared.domains.catalogues.suggest.ab import assign
    from shared.domains.catalogues.suggest.config import get_config

    exp = get_config().experiment_of("home")
    treatment = next(u for u in (f"t-{i}" for i in range(1000)) if assign(exp, u).name == "treatment")
    body = lambda u: {"user_id": u, "surface": "home", "limit": 2,  # noqa: E731
                      "context": {"device": "app", "current_action": "search",
                                  "timestamp": datetime.now(UTC).isoformat(), "session_length": 5}}
    with httpx.Client(timeout=30) as client:
        served_by = client.post(f"{function_url}/v1/suggest", json=body(control)).json()["served_by"]
        assert served_by.startswith("suggest-logistic@")

        async def unreachable(db, name):
            raise OSError("injected: Postgres is unreachable")

        monkeypatch.setattr(store, "get_production", unreachable)
        monkeypatch.setattr(serve, "REFRESH_S", 0.0)                  # every request asks the registry
        serve.MODELS._cache.pop("suggest-lightgbm", None)            # never loaded in this instance
        kept = client.post(f"{function_url}/v1/suggest", json=body(control)).json()
        assert kept["served_by"] == served_by and kept["fallback_reason"] is None
        cold = client.post(f"{function_url}/v1/suggest", json=body(treatment)).json()
        assert cold["served_by"] == "rule"
        assert cold["fallback_reason"] == "registry unavailable (OSError) and no suggest-lightgbm loaded yet"


@pytest.mark.parametrize("body,field", [
    (b"[]", "body"),
    (b'{"user_id": "u", "surface": "home", "limit": "three", "context": {}}', "limit"),
    (b'{"user_id": "u", "surface": "home", "limit": 3.5, "context": {}}', "limit"),
    (b'{"user_id": "", "surface": "home", "limit": 3}', "user_id"),
    (b'{"user_id": "u\\u0000", "surface": "home", "limit": 3}', None),
    (b'{"user_id": "u", "surface": "home", "limit": NaN}', None),
    (b'{"user_id": "u", "surface": "home", "limit": 3, "context": {"device": "mobile", "current_action": "browse", '
     b'"timestamp": "2026-12-04T10:00:00Z", "session_length": 1, "current_item": 80}}', "context.current_item"),
    (b'{"user_id": "u", "surface": "home", "limit": 3, "context": {"device": "mobile", "current_action": "browse", '
     b'"timestamp": "2026-12-04T10:00:00Z", "session_length": 1, "user_features": {"user_feature_9": "x"}}}',
     "context.user_features.user_feature_9"),
    (b"[" * 500 + b"]" * 500, None),
])
def test_hostile_suggest_bodies_are_a_400_never_a_500(function_url, body, field):
    r = httpx.post(f"{function_url}/v1/suggest", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    if field:
        assert r.json()["error"]["field"] == field, r.text


@pytest.mark.parametrize("body,field", [
    (b"[]", None),
    (b'{"events": []}', "events"),
    (b'{"events": "click"}', "events"),
    (b'{"type": "click"}', "events[0].impression_id"),
    (b'{"type": "conversion", "impression_id": "x", "value": -1}', "events[0].value"),
    (b'{"type": "click", "impression_id": "x", "extra": 1}', "events[0].extra"),
])
def test_hostile_event_bodies_are_a_400_never_a_500(function_url, body, field):
    r = httpx.post(f"{function_url}/v1/events", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    if field:
        assert r.json()["error"]["field"] == field, r.text

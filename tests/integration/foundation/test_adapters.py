"""Every adapter against its real local stand-in, through the same shared/ code production uses."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from emulators.procs import wait_port
from emulators.stack import free_port

pytestmark = pytest.mark.integration
ECHO_SOURCE = Path(__file__).parent / "echo_function" / "main.py"


@pytest.fixture(scope="module")
def echo_function(stack):
    """A functions-framework process serving the echo function, stopped at the end of the module."""
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "functions-framework"), "--target", "handle", "--source", str(ECHO_SOURCE),
         "--host", "127.0.0.1", "--port", str(port)],
        env={**stack._child_env()}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, 30, proc, "echo function")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def _wait_for_echo(predicate, timeout: float = 30.0) -> dict:
    from shared.adapters.redis_cache import get_redis

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for raw in get_redis().lrange("echo:received", 0, -1):
            record = json.loads(raw)
            if predicate(record):
                return record
        time.sleep(0.1)
    raise AssertionError("the function never received the expected request")


def test_pubsub_push_reaches_a_function(stack, echo_function):
    from google.cloud import pubsub_v1

    from shared.adapters.pubsub import decode_push, publish_json, topic_path

    topic = f"probe-{uuid.uuid4().hex[:8]}"
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    publisher.create_topic(name=topic_path(topic))
    subscriber.create_subscription(request={
        "name": subscriber.subscription_path(stack.project, topic + "-push"),
        "topic": topic_path(topic),
        "push_config": {"push_endpoint": echo_function + "/push"},
    })
    marker = uuid.uuid4().hex
    publish_json(topic, {"marker": marker}, kind="probe").result(timeout=10)

    record = _wait_for_echo(lambda r: r["path"] == "/push" and marker in base64.b64decode(
        json.loads(r["body"])["message"]["data"]).decode())
    payload, attributes, message_id = decode_push(json.loads(record["body"]))
    assert payload == {"marker": marker}
    assert attributes == {"kind": "probe"}
    assert message_id


def test_cloud_task_reaches_a_function(stack, echo_function):
    from shared.adapters.tasks import enqueue_http

    marker = uuid.uuid4().hex
    enqueue_http("prewarm", echo_function + "/task", {"marker": marker})
    record = _wait_for_echo(lambda r: r["path"] == "/task" and marker in r["body"])
    assert json.loads(record["body"]) == {"marker": marker}
    assert record["headers"].get("X-Cloudtasks-Queuename", "").endswith("prewarm")


def test_gcs_object_round_trips(stack):
    from shared.adapters.storage import list_paths, read_bytes, write_bytes

    path = f"probe/{uuid.uuid4().hex}.bin"
    data = bytes(range(256)) * 100
    uri = write_bytes("training-data", path, data)
    assert uri.startswith("gs://") and uri.endswith(path)
    assert read_bytes("training-data", path) == data
    assert path in list_paths("training-data", prefix="probe/")


def test_postgres_vector_round_trips(stack):
    from shared.adapters.aio import run_sync
    from shared.adapters.postgres import get_pool

    user_id = f"u-{uuid.uuid4().hex}"
    vector = np.linspace(-1, 1, 128, dtype=np.float32)

    async def roundtrip():
        pool = await get_pool()
        await pool.execute(
            "INSERT INTO users (id, persona_embedding, onboarding_tags) VALUES ($1, $2, $3)",
            user_id, vector, {"food": ["ramen"]},
        )
        return await pool.fetchrow("SELECT persona_embedding, onboarding_tags FROM users WHERE id = $1", user_id)

    row = run_sync(roundtrip())
    np.testing.assert_allclose(row["persona_embedding"], vector, rtol=1e-6)
    assert row["onboarding_tags"] == {"food": ["ramen"]}


def test_redis_key_round_trips(stack):
    from shared.adapters.redis_cache import get_redis

    key = f"probe:{uuid.uuid4().hex}"
    get_redis().set(key, "value", ex=60)
    assert get_redis().get(key) == b"value"


def test_qdrant_search_returns_nearest_point(stack):
    from qdrant_client.http import models

    from shared.adapters.qdrant import get_qdrant

    client = get_qdrant()
    name = f"probe_{uuid.uuid4().hex[:8]}"
    client.create_collection(name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
    client.upsert(name, points=[
        models.PointStruct(id=1, vector=[1, 0, 0, 0], payload={"name": "east"}),
        models.PointStruct(id=2, vector=[0, 1, 0, 0], payload={"name": "north"}),
        models.PointStruct(id=3, vector=[0.9, 0.1, 0, 0], payload={"name": "east-ish"}),
    ])
    hits = client.query_points(name, query=[0, 0.95, 0.05, 0], limit=2, with_payload=True).points
    assert [h.id for h in hits] == [2, 3]
    assert hits[0].payload == {"name": "north"}
    assert client.count(name).count == 3


def test_health_through_the_gateway_names_a_failing_dependency(stack):
    import httpx

    ok = httpx.get(f"{stack.gateway_url}/v1/health", timeout=10)
    assert ok.status_code == 200, ok.text
    assert set(ok.json()["dependencies"]) == {"postgres", "redis", "qdrant", "pubsub", "tasks", "gcs"}


def test_liveness_calls_nothing_and_an_all_up_health_answer_is_shared_briefly(stack):
    import httpx

    live = httpx.get(f"{stack.gateway_url}/v1/health/live", timeout=10)
    assert live.status_code == 200 and live.json() == {"status": "alive"}
    for _ in range(20):  # wait out an answer cached by an earlier caller, then the next one reuses the fresh one
        first = httpx.get(f"{stack.gateway_url}/v1/health", timeout=10).json()
        if not first["cached"]:
            break
        time.sleep(0.5)
    second = httpx.get(f"{stack.gateway_url}/v1/health", timeout=10).json()
    assert first["cached"] is False and first["status"] == second["status"] == "up"
    assert second["cached"] is True and second["checked_at"] == first["checked_at"]

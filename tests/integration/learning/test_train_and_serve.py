"""The learn path on the local stand-ins: the train job runs the Vertex trainer entry point as a subprocess,
registers a candidate, and the Vertex prediction server (run as a local process) serves that artifact
through the model-endpoint adapter."""
from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from emulators.procs import wait_port
from emulators.stack import free_port

pytestmark = pytest.mark.integration


def test_train_register_and_serve(stack):
    from shared.adapters.model_endpoint import EndpointError, predict
    from shared.adapters.postgres import create_pool
    from shared.engine.registry.artifacts import download_artifact
    from shared.engine.registry.store import list_models

    env = stack._child_env()
    done = subprocess.run([sys.executable, "-m", "jobs.train.main", "--ranker", "popularity",
                           "--dataset", "movielens-100k", "--model-name", "popularity_it"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr

    async def candidates():
        pool = await create_pool(max_size=1)
        try:
            return await list_models(pool, "popularity_it")
        finally:
            await pool.close()

    records = asyncio.run(candidates())
    assert len(records) == 1 and records[0].status == "candidate"
    artifact = records[0].artifact_path
    assert artifact.startswith("gs://")

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "vertex.predictor.server"],
                              env={**env, "AIP_HTTP_PORT": str(port), "AIP_HEALTH_ROUTE": "/health",
                                   "AIP_PREDICT_ROUTE": "/predict", "MODEL_ARTIFACT_URI": artifact},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, 60, server, "prediction server")
        url = f"http://127.0.0.1:{port}/predict"
        expected = download_artifact(artifact).recommend("1", 5)
        recs, scored = predict(url, [{"user_id": "1", "k": 5},
                                     {"user_id": "1", "item_ids": [expected[0].item_id, expected[-1].item_id]}], timeout_s=30)
        assert recs["items"] == [r.item_id for r in expected]
        assert recs["served_by"] == f"popularity@{records[0].version}"  # the ranker that served, at the registered version
        assert scored["scores"][0] >= scored["scores"][1]
        with pytest.raises(EndpointError, match="400"):
            predict(url, [{"user": "missing user_id"}])
    finally:
        server.kill()
        server.wait()

"""The prediction server of a Vertex AI endpoint (custom-container contract), also run locally as a process.

Contract: listen on AIP_HTTP_PORT, answer health on AIP_HEALTH_ROUTE, predictions on AIP_PREDICT_ROUTE with
{"instances": [...]} in and {"predictions": [...]} out. The model is a ranker artifact from the registry
(MODEL_ARTIFACT_URI, or model.npz under the AIP_STORAGE_URI Vertex mounts for the deployed model).

Instances: {"user_id": "...", "item_ids": ["...", ...]} scores those items; {"user_id": "...", "k": 10}
recommends. Each prediction says which model served it.
"""
from __future__ import annotations

import os
from functools import lru_cache

import flask

from shared.engine.rankers.base import Ranker


@lru_cache(maxsize=1)
def model() -> Ranker:
    from shared.engine.registry.artifacts import download_artifact

    uri = os.environ.get("MODEL_ARTIFACT_URI") or (os.environ.get("AIP_STORAGE_URI", "").rstrip("/") + "/model.npz")
    if uri == "/model.npz":
        raise RuntimeError("set MODEL_ARTIFACT_URI (or deploy with an artifact so Vertex sets AIP_STORAGE_URI)")
    return download_artifact(uri)


def predict_one(instance: object) -> dict:
    if not isinstance(instance, dict) or not isinstance(instance.get("user_id"), str):
        raise ValueError("each instance needs a string user_id")
    ranker = model()
    if "item_ids" in instance:
        items = instance["item_ids"]
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items) or len(items) > 5000:
            raise ValueError("item_ids must be a list of at most 5000 strings")
        scores = ranker.score(instance["user_id"], items)
        return {"scores": [float(s) for s in scores], "served_by": ranker.served_by}
    k = instance.get("k", 10)
    if not isinstance(k, int) or not 1 <= k <= 1000:
        raise ValueError("k must be an integer from 1 to 1000")
    recs = ranker.recommend(instance["user_id"], k)
    return {"items": [r.item_id for r in recs], "scores": [float(r.score) for r in recs],
            "served_by": ranker.served_by}


def create_app() -> flask.Flask:
    app = flask.Flask(__name__)
    health_route = os.environ.get("AIP_HEALTH_ROUTE", "/health")
    predict_route = os.environ.get("AIP_PREDICT_ROUTE", "/predict")

    @app.get(health_route)
    def health():
        model()
        return {"status": "ok", "model": model().served_by}

    @app.post(predict_route)
    def predict():
        body = flask.request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
            return {"error": {"code": "invalid_argument", "field": "instances",
                              "message": 'body must be {"instances": [...]}'}}, 400
        try:
            return {"predictions": [predict_one(i) for i in body["instances"]], "deployedModelId": model().served_by}
        except ValueError as exc:
            return {"error": {"code": "invalid_argument", "field": "instances", "message": str(exc)}}, 400

    return app


def main() -> None:
    from werkzeug.serving import run_simple

    run_simple("0.0.0.0" if os.environ.get("AIP_MODE") else "127.0.0.1", int(os.environ.get("AIP_HTTP_PORT", "8080")),
               create_app(), threaded=True)


if __name__ == "__main__":
    main()

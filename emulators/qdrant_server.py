"""Qdrant's REST API in front of qdrant-client's local mode.

Local mode keeps one store per process and locks its storage path, but our functions and jobs are
separate processes. This server owns the store and speaks the subset of Qdrant's REST API that
`QdrantClient(url=...)` uses, parsing requests with qdrant-client's own pydantic models, so production
code talks to it exactly as it talks to a real Qdrant on Cloud Run.

Run: python -m emulators.qdrant_server --port 6333 --path .local/qdrant
"""
from __future__ import annotations

import argparse
import threading
import time
from typing import Any

import uvicorn
from pydantic import TypeAdapter, ValidationError
from qdrant_client import QdrantClient
from qdrant_client.http import models
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

try:
    from importlib.metadata import version as _dist_version

    CLIENT_VERSION = _dist_version("qdrant-client")
except Exception:  # pragma: no cover
    CLIENT_VERSION = "1.12.0"

_upsert_adapter = TypeAdapter(models.PointInsertOperations)
_selector_adapter = TypeAdapter(models.PointsSelector)


def _ok(result: Any, started: float) -> JSONResponse:
    if hasattr(result, "model_dump"):
        result = result.model_dump(mode="json", exclude_none=True)
    elif isinstance(result, list):
        result = [r.model_dump(mode="json", exclude_none=True) if hasattr(r, "model_dump") else r for r in result]
    return JSONResponse({"result": result, "status": "ok", "time": time.perf_counter() - started})


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": {"error": message}, "time": 0.0}, status_code=status)


def build_app(path: str | None) -> Starlette:
    store = QdrantClient(path=path) if path else QdrantClient(location=":memory:")
    lock = threading.Lock()  # local mode is not thread-safe

    async def call(request: Request, fn) -> JSONResponse:
        started = time.perf_counter()
        try:
            body = await request.json() if request.method in ("POST", "PUT", "PATCH") else None
        except ValueError:
            return _error(400, "body is not valid JSON")
        try:
            with lock:
                result = fn(request.path_params.get("name"), body)
            return _ok(result, started)
        except ValidationError as exc:
            return _error(422, str(exc))
        except (ValueError, KeyError) as exc:
            message = str(exc)
            return _error(404 if "not found" in message.lower() else 400, message)

    def root(_: Request) -> JSONResponse:
        return JSONResponse({"title": "qdrant - vector search engine (local-mode emulator)", "version": CLIENT_VERSION})

    async def collections(request: Request) -> JSONResponse:
        return await call(request, lambda _n, _b: store.get_collections())

    async def collection(request: Request) -> JSONResponse:
        if request.method == "GET":
            return await call(request, lambda n, _b: store.get_collection(n))
        if request.method == "DELETE":
            return await call(request, lambda n, _b: store.delete_collection(n))

        def create(name: str, body: dict) -> bool:
            spec = models.CreateCollection.model_validate(body or {})
            return store.create_collection(
                name, vectors_config=spec.vectors, sparse_vectors_config=spec.sparse_vectors
            )

        return await call(request, create)

    async def exists(request: Request) -> JSONResponse:
        return await call(request, lambda n, _b: models.CollectionExistence(exists=store.collection_exists(n)))

    async def points(request: Request) -> JSONResponse:
        if request.method == "PUT":
            def upsert(name: str, body: dict):
                op = _upsert_adapter.validate_python(body)
                batch = op.points if isinstance(op, models.PointsList) else op.batch
                return store.upsert(name, points=batch, wait=True)

            return await call(request, upsert)

        def retrieve(name: str, body: dict):
            req = models.PointRequest.model_validate(body)
            return store.retrieve(name, ids=req.ids, with_payload=req.with_payload, with_vectors=req.with_vector or False)

        return await call(request, retrieve)

    async def delete_points(request: Request) -> JSONResponse:
        def delete(name: str, body: dict):
            return store.delete(name, points_selector=_selector_adapter.validate_python(body), wait=True)

        return await call(request, delete)

    async def set_payload(request: Request) -> JSONResponse:
        def setp(name: str, body: dict):
            req = models.SetPayload.model_validate(body)
            selector = req.points if req.points is not None else models.FilterSelector(filter=req.filter)
            return store.set_payload(name, payload=req.payload, points=selector, key=req.key, wait=True)

        return await call(request, setp)

    async def scroll(request: Request) -> JSONResponse:
        def do(name: str, body: dict):
            req = models.ScrollRequest.model_validate(body or {})
            found, next_offset = store.scroll(
                name, scroll_filter=req.filter, limit=req.limit or 10, offset=req.offset,
                with_payload=req.with_payload if req.with_payload is not None else True,
                with_vectors=req.with_vector or False, order_by=req.order_by,
            )
            return models.ScrollResult(points=found, next_page_offset=next_offset)

        return await call(request, do)

    async def count(request: Request) -> JSONResponse:
        def do(name: str, body: dict):
            req = models.CountRequest.model_validate(body or {})
            return store.count(name, count_filter=req.filter, exact=req.exact if req.exact is not None else True)

        return await call(request, do)

    def _query(name: str, req: models.QueryRequest) -> models.QueryResponse:
        return store.query_points(
            name, query=req.query, using=req.using, prefetch=req.prefetch, query_filter=req.filter,
            search_params=req.params, limit=req.limit or 10, offset=req.offset,
            with_payload=req.with_payload if req.with_payload is not None else False,
            with_vectors=req.with_vector or False, score_threshold=req.score_threshold,
        )

    async def query(request: Request) -> JSONResponse:
        return await call(request, lambda n, b: _query(n, models.QueryRequest.model_validate(b or {})))

    async def query_batch(request: Request) -> JSONResponse:
        def do(name: str, body: dict):
            batch = models.QueryRequestBatch.model_validate(body)
            return [_query(name, r) for r in batch.searches]

        return await call(request, do)

    async def field_index(request: Request) -> JSONResponse:
        # Local mode has no payload indexes; acknowledging keeps production's index creation code unchanged.
        return await call(request, lambda _n, _b: models.UpdateResult(operation_id=0, status=models.UpdateStatus.COMPLETED))

    routes = [
        Route("/", root),
        Route("/healthz", lambda _r: JSONResponse({"ok": True})),
        Route("/collections", collections),
        Route("/collections/{name}", collection, methods=["GET", "PUT", "DELETE"]),
        Route("/collections/{name}/exists", exists),
        Route("/collections/{name}/index", field_index, methods=["PUT"]),
        Route("/collections/{name}/points", points, methods=["PUT", "POST"]),
        Route("/collections/{name}/points/delete", delete_points, methods=["POST"]),
        Route("/collections/{name}/points/payload", set_payload, methods=["POST"]),
        Route("/collections/{name}/points/scroll", scroll, methods=["POST"]),
        Route("/collections/{name}/points/count", count, methods=["POST"]),
        Route("/collections/{name}/points/query", query, methods=["POST"]),
        Route("/collections/{name}/points/query/batch", query_batch, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=6333)
    parser.add_argument("--path", default=None, help="storage folder (default: in memory)")
    args = parser.parse_args()
    uvicorn.run(build_app(args.path), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()

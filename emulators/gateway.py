"""The local API gateway: routes by the same OpenAPI 2.0 document that configures Google API Gateway.

Each operation's x-google-backend names its function; requests are proxied to that function's local
URL with the path appended (APPEND_PATH_TO_ADDRESS), as in the cloud. Operations secured by the
`firebase` scheme need a bearer token; the local dev token is the user id itself, and the gateway
forwards the claims in X-Apigateway-Api-Userinfo exactly as API Gateway does after validating a JWT.
The `api_key` requirement and the quotas (x-google-management, x-google-quota) are API Gateway's alone: locally
no key is needed (one sent in `?key=` is passed through and ignored) and no quota is counted.

Canary splits. In the cloud, Cloud Run splits a service's traffic between its stable and candidate revisions by
the weights Pulumi declares from resources.yaml `traffic`. Locally the gateway does that split: a function with a
declared `candidate_percent` and a `<name>@candidate` URL sends each request to the candidate with that
probability, else to the stable backend. The weights are re-read when the declaration file changes, so a
rollback (`python -m infra.pulumi.traffic rollback search`) applies to the next request without a restart.

Run: python -m emulators.gateway --port 8080 --urls '{"health": "http://127.0.0.1:8101", ...}'
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import base64
import json
import os
import random
from pathlib import Path

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from infra.pulumi.declaration import DECLARATION_FILE, read_traffic
from infra.pulumi.openapi import operations, render

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "host", "content-length"}
USERINFO_HEADER = "X-Apigateway-Api-Userinfo"
MAX_BODY_BYTES = 32 * 1024 * 1024   # Google API Gateway's request size limit; the functions set their own, lower

DOCS_PAGE = """<!doctype html><html><head><title>Concierge API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head><body><div id="ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script></body></html>"""


def _gateway_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": "gateway", "message": message}}, status_code=status)


async def _bounded_body(request: Request) -> bytes | None:
    """The request body, read as it streams in; None once it passes MAX_BODY_BYTES (Content-Length or not)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _userinfo(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        return None
    token = auth[7:].strip()
    if not token or len(token) > 128:
        return None
    claims = {"sub": token, "iss": "local-dev-gateway"}
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")


CANDIDATE_SUFFIX = "@candidate"


class TrafficWeights:
    """The declared candidate shares, re-read when the declaration file's modification time changes."""

    def __init__(self, path: Path, rng: random.Random | None = None) -> None:
        self.path, self.rng = Path(path), rng or random.Random()
        self._stamp: tuple[int, int] | None = None
        self._shares: dict[str, int] = {}

    def shares(self) -> dict[str, int]:
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            return self._shares  # keep the last weights read rather than dropping the split
        if stamp != self._stamp:
            try:
                self._shares, self._stamp = read_traffic(self.path), stamp
            except Exception:  # a half-edited file: keep the previous weights until it parses again
                pass
        return self._shares

    def use_candidate(self, function: str) -> bool:
        share = self.shares().get(function, 0)
        return share > 0 and self.rng.random() * 100 < share


def build_app(function_urls: dict[str, str], project: str, declaration: Path = DECLARATION_FILE,
              rng: random.Random | None = None) -> Starlette:
    stable_urls = {k: v for k, v in function_urls.items() if not k.endswith(CANDIDATE_SUFFIX)}
    candidate_urls = {k[: -len(CANDIDATE_SUFFIX)]: v.rstrip("/") for k, v in function_urls.items()
                      if k.endswith(CANDIDATE_SUFFIX)}
    function_of = {url.rstrip("/"): name for name, url in stable_urls.items()}
    weights = TrafficWeights(declaration, rng)
    document = render(stable_urls, project)
    session: dict[str, aiohttp.ClientSession] = {}  # created in the lifespan: it must belong to the server's loop

    def make_handler(backend: dict, secured: bool):
        stable_address = backend["address"].rstrip("/")
        function = function_of.get(stable_address)
        candidate_address = candidate_urls.get(function) if function else None
        deadline = float(backend.get("deadline", 15))

        async def handler(request: Request) -> Response:
            address = stable_address
            if candidate_address and weights.use_candidate(function):
                address = candidate_address
            if address.startswith("missing://"):
                return _gateway_error(503, f"function {address[10:]} is not in this checkout (functions/{address[10:]}/main.py)")
            headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
            headers.pop(USERINFO_HEADER.lower(), None)  # never trust a client-supplied identity
            if secured:
                info = _userinfo(request)
                if info is None:
                    return JSONResponse(
                        {"error": {"code": "unauthenticated", "field": "Authorization",
                                   "message": "this operation needs 'Authorization: Bearer <token>'"}},
                        status_code=401,
                    )
                headers[USERINFO_HEADER] = info
            url = address + request.url.path + (f"?{request.url.query}" if request.url.query else "")
            body = await _bounded_body(request)
            if body is None:
                return _gateway_error(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
            try:
                resp = await session["client"].request(
                    request.method, url, headers=headers, data=body, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=2.0, sock_read=deadline))
            except asyncio.TimeoutError:
                return _gateway_error(504, f"backend did not answer within {deadline:.0f}s")
            except aiohttp.ClientError as exc:
                return _gateway_error(503, f"backend unavailable: {exc.__class__.__name__}")
            out_headers = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP}
            if resp.headers.get("content-type", "").startswith("text/event-stream"):
                async def relay():
                    try:
                        async for chunk in resp.content.iter_any():
                            yield chunk
                    finally:
                        resp.release()

                return StreamingResponse(relay(), status_code=resp.status, headers=out_headers)
            try:
                content = await resp.read()
            except asyncio.TimeoutError:
                return _gateway_error(504, f"backend did not finish within {deadline:.0f}s")
            finally:
                resp.release()
            return Response(content, status_code=resp.status, headers=out_headers)

        return handler

    by_path: dict[str, dict[str, tuple]] = {}
    for method, path, op in operations(document):
        secured = any("firebase" in req for req in op.get("security", []))
        by_path.setdefault(path, {})[method] = make_handler(op["x-google-backend"], secured)

    def dispatcher(methods: dict[str, object]):
        async def route(request: Request) -> Response:
            handler = methods.get(request.method)
            if handler is None:
                return _gateway_error(405, f"{request.method} is not allowed; use {', '.join(sorted(methods))}")
            return await handler(request)

        return route

    routes = [Route(path, dispatcher(methods), methods=list(methods)) for path, methods in by_path.items()]

    async def spec(_: Request) -> JSONResponse:
        return JSONResponse(document)

    async def docs(_: Request) -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE)

    routes += [Route("/openapi.json", spec), Route("/docs", docs)]
    try:
        import swagger_ui_bundle

        routes.append(Mount("/docs/static", app=StaticFiles(directory=Path(swagger_ui_bundle.swagger_ui_path))))
    except ImportError:
        pass
    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette):
        # gunicorn (functions-framework) closes an idle keep-alive connection after 2 s; a pooled connection kept
        # longer can be reused just as the backend closes it, and the request fails with ServerDisconnectedError.
        session["client"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200, keepalive_timeout=1.0), auto_decompress=False,
            skip_auto_headers=("User-Agent",))
        yield
        await session["client"].close()

    async def no_route(request: Request, exc: Exception) -> JSONResponse:
        status = getattr(exc, "status_code", 404)
        return _gateway_error(status, f"no operation for {request.method} {request.url.path}; see /openapi.json")

    return Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: no_route, 405: no_route})


def main() -> None:
    parser = argparse.ArgumentParser(description="local API gateway")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--urls", required=True, help="JSON object: function name -> local URL")
    parser.add_argument("--project", default="concierge-local")
    parser.add_argument("--declaration", type=Path, default=DECLARATION_FILE,
                        help="where the canary weights are declared (resources.yaml; tests pass a copy)")
    args = parser.parse_args()
    app = build_app(json.loads(args.urls), args.project, args.declaration)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()

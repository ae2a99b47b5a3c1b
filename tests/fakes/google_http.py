"""What the fakes of Google's JSON APIs share: a threaded local HTTP server on a free port, started and stopped
with the fake (a context manager), and a handler that answers JSON and Google's error shape
{"error": {"code", "message", "status"}}."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class GoogleJsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args) -> None:
        pass

    def send_json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=UTF-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_error_json(self, code: int, status: str, message: str) -> None:
        self.send_json(code, {"error": {"code": code, "message": message, "status": status}})

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("content-length") or 0))


class LocalServer:
    """Subclasses implement handler() (a GoogleJsonHandler subclass that can reach the fake) and set `name`."""
    name = "fake-google"

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None

    def handler(self) -> type[GoogleJsonHandler]:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Any:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

"""A local stand-in for the Anthropic Messages API (POST /v1/messages), speaking its wire format.

Point the real client at it (ANTHROPIC_BASE_URL=fake.base_url, any ANTHROPIC_API_KEY) and script the replies.

    from tests.fakes.anthropic_server import FakeAnthropic, tool_use, text_reply, overloaded, malformed_json

    with FakeAnthropic() as fake:
        # 1. a queue of scripted replies, consumed in order, one per request:
        fake.script(overloaded(), tool_use("record_vibe_tags", {"venues": [...]}))
        # 2. and/or a responder: a callable (request JSON) -> reply, used when the queue is empty:
        fake.responder = lambda req: tool_use(req["tools"][0]["name"], {...})
        ...
        fake.requests  # every request body received (JSON), in order
        fake.headers   # the matching request headers

A reply is a `Reply(status, body, headers, delay_s)`; helpers build the common ones:
    tool_use(name, input, ...)   200, one tool_use content block (stop_reason "tool_use"), with usage
    text_reply(text)             200, one text block (no tool call: "malformed" for a forced tool call)
    overloaded()                 529 overloaded_error      rate_limited(retry_after)  429 rate_limit_error
    server_error()               500 api_error             malformed_json()           200 with a body that is not JSON
    error(status, type, message) any error in the API's {"type":"error","error":{...}} shape
    delayed(reply, seconds)      the same reply, sent only after `seconds` (a slow or hung API, for timeout tests;
                                 stopping the fake cuts the wait short)
A responder may also return a plain dict, sent as a 200 JSON body.

Without a script or responder the server answers every request with a short text reply. Requests with neither an
x-api-key header nor an Authorization bearer token (newer SDKs send the key that way) get the API's 401
authentication_error, like the real service.
"""
from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ids = itertools.count(1)


@dataclass
class Reply:
    status: int
    body: Any  # dict (sent as JSON) or bytes/str (sent raw)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait this long before answering (the client may give up first)


def _usage(request: dict | None, output_tokens: int) -> dict[str, int]:
    # Roughly 4 characters per token, like the real tokenizer on English prose.
    prompt_chars = len(json.dumps(request or {}))
    return {"input_tokens": max(1, prompt_chars // 4), "output_tokens": output_tokens}


def message(content: list[dict], *, stop_reason: str, model: str = "claude-haiku-4-5",
            input_tokens: int | None = None, output_tokens: int | None = None, request: dict | None = None) -> dict:
    usage = _usage(request, output_tokens or 20)
    if input_tokens is not None:
        usage["input_tokens"] = input_tokens
    return {
        "id": f"msg_fake_{next(_ids):06d}",
        "type": "message",
        "role": "assistant",
        "model": (request or {}).get("model", model),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def tool_use(name: str, tool_input: dict, *, input_tokens: int = 1200, output_tokens: int = 300) -> Reply:
    block = {"type": "tool_use", "id": f"toolu_fake_{next(_ids):06d}", "name": name, "input": tool_input}
    return Reply(200, message([block], stop_reason="tool_use", input_tokens=input_tokens, output_tokens=output_tokens))


def text_reply(text: str = "I cannot help with that.", *, input_tokens: int = 1200, output_tokens: int = 12) -> Reply:
    return Reply(200, message([{"type": "text", "text": text}], stop_reason="end_turn", input_tokens=input_tokens,
                              output_tokens=output_tokens))


def error(status: int, error_type: str, msg: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"type": "error", "error": {"type": error_type, "message": msg}}, headers or {})


def overloaded() -> Reply:
    return error(529, "overloaded_error", "Overloaded")


def rate_limited(retry_after: float = 0) -> Reply:
    return error(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit.",
                 {"retry-after": str(retry_after)})


def server_error() -> Reply:
    return error(500, "api_error", "Internal server error")


def delayed(reply: Reply, seconds: float) -> Reply:
    return Reply(reply.status, reply.body, dict(reply.headers), seconds)


def malformed_json() -> Reply:
    return Reply(200, b'{"id": "msg_broken", "type": "message", "content": [', {"content-type": "application/json"})


class FakeAnthropic:
    def __init__(self, responder: Callable[[dict], Reply | dict] | None = None) -> None:
        self.responder = responder
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting -------------------------------------------------------------------------------------------
    def script(self, *replies: Reply) -> "FakeAnthropic":
        with self._lock:
            self._queue.extend(replies)
        return self

    def _next_reply(self, request: dict) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            out = self.responder(request)
            return out if isinstance(out, Reply) else Reply(200, out)
        return Reply(200, message([{"type": "text", "text": "ok"}], stop_reason="end_turn", request=request))

    # -- lifecycle -------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeAnthropic":
        fake = self
        self._stopping.clear()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args) -> None:  # keep test output clean
                pass

            def _send(self, reply: Reply) -> None:
                raw = reply.body if isinstance(reply.body, (bytes, str)) else json.dumps(reply.body)
                data = raw.encode() if isinstance(raw, str) else raw
                self.send_response(reply.status)
                headers = {"content-type": "application/json", "request-id": f"req_fake_{next(_ids):06d}",
                           **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                if self.path.split("?")[0] != "/v1/messages":
                    self._send(error(404, "not_found_error", f"no route {self.path}"))
                    return
                bearer = (self.headers.get("authorization") or "").startswith("Bearer ")
                if not (self.headers.get("x-api-key") or bearer):
                    self._send(error(401, "authentication_error", "x-api-key header is required"))
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._send(error(400, "invalid_request_error", "body is not JSON"))
                    return
                with fake._lock:
                    fake.requests.append(body)
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = fake._next_reply(body)
                if reply.delay_s > 0 and fake._stopping.wait(reply.delay_s):
                    self.close_connection = True  # stopping: drop the connection instead of answering
                    return
                try:
                    self._send(reply)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up waiting (a timeout test)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-anthropic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wake delayed replies so no handler thread outlives the fake
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeAnthropic":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

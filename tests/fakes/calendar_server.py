"""A local stand-in for Google Calendar API v3's freeBusy, speaking its wire format.

    POST /calendar/v3/freeBusy  {"timeMin", "timeMax", "items": [{"id"}], "timeZone"?}
        -> {"kind": "calendar#freeBusy", "timeMin", "timeMax",
            "calendars": {id: {"busy": [{"start", "end"}]}}}   (busy clipped to the query range)
An unknown calendar id gets {"errors": [{"domain": "global", "reason": "notFound"}]} inside its entry, as the
real API answers for a calendar the caller cannot see. A missing or wrong bearer token is a 401 in Google's
{"error": {"code", "message", "status"}} shape; a body without timeMin/timeMax is a 400.

    with FakeCalendar({"ana@example.com": [("2031-03-04T18:00:00Z", "2031-03-04T21:00:00Z")]}) as fake:
        fake.base_url   # GOOGLE_CALENDAR_BASE_URL
        fake.token      # GOOGLE_CALENDAR_ACCESS_TOKEN
        fake.calls      # the request bodies received
"""
from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _z(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


class FakeCalendar:
    def __init__(self, calendars: dict[str, list[tuple[str, str]]] | None = None, token: str = "test-calendar-token"):
        self.calendars = dict(calendars or {})
        self.token = token
        self.calls: list[dict] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, body: dict) -> tuple[int, dict]:
        if "timeMin" not in body or "timeMax" not in body:
            return 400, {"error": {"code": 400, "message": "Missing timeMin or timeMax.", "status": "INVALID_ARGUMENT"}}
        lo, hi = _instant(body["timeMin"]), _instant(body["timeMax"])
        out = {}
        for item in body.get("items", []):
            cid = item.get("id")
            if cid not in self.calendars:
                out[cid] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
                continue
            busy = []
            for start, end in self.calendars[cid]:
                s, e = max(_instant(start), lo), min(_instant(end), hi)
                if s < e:
                    busy.append({"start": _z(s), "end": _z(e)})
            out[cid] = {"busy": busy}
        return 200, {"kind": "calendar#freeBusy", "timeMin": body["timeMin"], "timeMax": body["timeMax"],
                     "calendars": out}

    def start(self) -> FakeCalendar:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args) -> None:
                pass

            def _send(self, status: int, body: dict) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.split("?")[0] != "/calendar/v3/freeBusy":
                    return self._send(404, {"error": {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}})
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._send(401, {"error": {"code": 401, "message": "Request had invalid authentication "
                                                      "credentials.", "status": "UNAUTHENTICATED"}})
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    return self._send(400, {"error": {"code": 400, "message": "Invalid JSON payload.",
                                                      "status": "INVALID_ARGUMENT"}})
                fake.calls.append(body)
                self._send(*fake.answer(body))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeCalendar:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

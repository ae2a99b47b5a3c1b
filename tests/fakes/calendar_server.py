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

from tests.fakes.google_http import GoogleJsonHandler, LocalServer


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _z(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


class FakeCalendar(LocalServer):
    name = "fake-calendar"

    def __init__(self, calendars: dict[str, list[tuple[str, str]]] | None = None, token: str = "test-calendar-token"):
        super().__init__()
        self.calendars = dict(calendars or {})
        self.token = token
        self.calls: list[dict] = []

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

    def handler(self) -> type[GoogleJsonHandler]:
        fake = self

        class Handler(GoogleJsonHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.read_body()
                if self.path.split("?")[0] != "/calendar/v3/freeBusy":
                    return self.send_error_json(404, "NOT_FOUND", "Not Found")
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self.send_error_json(401, "UNAUTHENTICATED",
                                                "Request had invalid authentication credentials.")
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    return self.send_error_json(400, "INVALID_ARGUMENT", "Invalid JSON payload.")
                fake.calls.append(body)
                self.send_json(*fake.answer(body))

        return Handler

"""Google Calendar free/busy (POST {base}/calendar/v3/freeBusy), for members who share a calendar instead of
uploading one.

Why the REST call and not google-api-python-client: the one request we make is a small JSON POST on an async
path, and the discovery client is synchronous and heavy to import at cold start. The wire format is Calendar
API v3's: {"timeMin", "timeMax", "items": [{"id"}]} in, {"calendars": {id: {"busy": [{"start", "end"}],
"errors": [...]}}} out. A member shares their calendar with the service's account; the token is the
account's own (google.auth.default, scope calendar.readonly), or GOOGLE_CALENDAR_ACCESS_TOKEN where a local
fake stands in (tests/fakes/calendar_server.py).
"""
from __future__ import annotations

import datetime as dt

import httpx

from shared.settings import get_settings

SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
TIMEOUT_S = 10.0


class CalendarUnavailable(Exception):
    """The calendar could not be read: no credentials here, the API refused, or it named an error for the id.
    The message says which, so a member can fix the sharing."""


def _token() -> str:
    settings = get_settings()
    if settings.calendar_access_token:
        return settings.calendar_access_token
    try:
        import google.auth
        import google.auth.transport.requests

        credentials, _ = google.auth.default(scopes=[SCOPE])
        credentials.refresh(google.auth.transport.requests.Request())
        return credentials.token
    except Exception as exc:  # no default credentials on this machine, or they cannot be refreshed
        raise CalendarUnavailable(f"no Google credentials to read calendars with ({type(exc).__name__}); "
                                  "upload an .ics file or give busy intervals instead") from None


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


async def free_busy(calendar_id: str, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """The calendar's busy intervals between start and end (aware datetimes), in UTC."""
    body = {"timeMin": start.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z"),
            "timeMax": end.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z"),
            "items": [{"id": calendar_id}]}
    url = get_settings().calendar_base_url.rstrip("/") + "/calendar/v3/freeBusy"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            resp = await client.post(url, json=body, headers={"Authorization": f"Bearer {_token()}"})
    except httpx.HTTPError as exc:
        raise CalendarUnavailable(f"Google Calendar did not answer ({type(exc).__name__}); retry later") from None
    if resp.status_code != 200:
        try:
            message = resp.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = resp.text[:200]
        raise CalendarUnavailable(f"Google Calendar refused the free/busy query ({resp.status_code}: {message})")
    entry = (resp.json().get("calendars") or {}).get(calendar_id) or {}
    if entry.get("errors"):
        reason = entry["errors"][0].get("reason", "unknown")
        raise CalendarUnavailable(f"calendar {calendar_id!r} cannot be read ({reason}): share it with the "
                                  "service's account, or upload an .ics file instead")
    return [(_instant(b["start"]), _instant(b["end"])) for b in entry.get("busy", [])]

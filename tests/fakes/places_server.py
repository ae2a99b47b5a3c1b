"""A local stand-in for Google Places API (New), speaking its wire format.

    POST /v1/places:searchText   JSON {"textQuery": ..., "pageSize"|"maxResultCount": n}  -> {"places": [Place...]}
    GET  /v1/places/{place_id}                                                          -> Place
Both require X-Goog-Api-Key (403 PERMISSION_DENIED otherwise) and X-Goog-FieldMask (400 INVALID_ARGUMENT
otherwise); the field mask is applied to the response ("*" for everything; searchText masks are prefixed
"places."). Errors use Google's {"error": {"code", "message", "status"}} shape.

    with FakePlaces(places=[place(...), ...]) as fake:
        fake.base_url  # point settings.places_base_url / PLACES_BASE_URL here
        fake.calls     # list of (method, path, field_mask) received
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from tests.fakes.google_http import GoogleJsonHandler, LocalServer


def place(place_id: str, name: str, *, lat: float, lon: float, types: list[str] | None = None, rating: float = 4.5,
          ratings: int = 1200, price: str | None = "PRICE_LEVEL_MODERATE", summary: str = "",
          address: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": place_id,
        "displayName": {"text": name, "languageCode": "en"},
        "formattedAddress": address or f"{name}, Seattle, WA, USA",
        "location": {"latitude": lat, "longitude": lon},
        "types": types or ["tourist_attraction", "point_of_interest", "establishment"],
        "primaryType": (types or ["tourist_attraction"])[0],
        "rating": rating,
        "userRatingCount": ratings,
        "regularOpeningHours": {"weekdayDescriptions": ["Monday: 9:00 AM – 5:00 PM"]},
        "googleMapsUri": f"https://maps.google.com/?cid={abs(hash(place_id)) % 10**12}",
    }
    if price:
        out["priceLevel"] = price
    if summary:
        out["editorialSummary"] = {"text": summary, "languageCode": "en"}
    return out


def _mask(obj: dict, fields: list[str]) -> dict:
    if "*" in fields:
        return obj
    return {k: v for k, v in obj.items() if k in set(fields)}


class FakePlaces(LocalServer):
    name = "fake-places"

    def __init__(self, places: list[dict] | None = None, api_key: str = "test-places-key") -> None:
        super().__init__()
        self.places = {p["id"]: p for p in (places or [])}
        self.api_key = api_key
        self.calls: list[tuple[str, str, str]] = []

    def search(self, query: str, limit: int) -> list[dict]:
        words = [w for w in query.lower().split() if w not in {"in", "the", "of", "top", "best"}]
        scored = []
        for p in self.places.values():
            hay = " ".join([p["displayName"]["text"], p.get("formattedAddress", ""), " ".join(p.get("types", []))]).lower()
            score = sum(w in hay for w in words)
            if score:
                scored.append((-score, p["id"], p))
        return [p for _, _, p in sorted(scored)[:limit]]

    def handler(self) -> type[GoogleJsonHandler]:
        fake = self

        class Handler(GoogleJsonHandler):
            def _auth(self) -> list[str] | None:
                if self.headers.get("X-Goog-Api-Key") != fake.api_key:
                    self.send_error_json(403, "PERMISSION_DENIED", "The request is missing a valid API key.")
                    return None
                mask = self.headers.get("X-Goog-FieldMask")
                if not mask:
                    self.send_error_json(400, "INVALID_ARGUMENT", "FieldMask is a required parameter. See "
                                "https://cloud.google.com/apis/docs/system-parameters on how to provide it.")
                    return None
                return [f.strip() for f in mask.split(",") if f.strip()]

            def do_POST(self) -> None:  # noqa: N802
                raw = self.read_body()
                if self.path != "/v1/places:searchText":
                    self.send_error_json(404, "NOT_FOUND", f"no route {self.path}")
                    return
                fields = self._auth()
                if fields is None:
                    return
                fake.calls.append(("POST", self.path, ",".join(fields)))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self.send_error_json(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
                    return
                if not body.get("textQuery"):
                    self.send_error_json(400, "INVALID_ARGUMENT", "Empty text_query.")
                    return
                limit = int(body.get("pageSize") or body.get("maxResultCount") or 20)
                place_fields = ["*"] if "*" in fields else [f[len("places."):] for f in fields if f.startswith("places.")]
                results = [_mask(p, place_fields) for p in fake.search(body["textQuery"], limit)]
                self.send_json(200, {"places": results} if results else {})

            def do_GET(self) -> None:  # noqa: N802
                if not self.path.startswith("/v1/places/"):
                    self.send_error_json(404, "NOT_FOUND", f"no route {self.path}")
                    return
                fields = self._auth()
                if fields is None:
                    return
                fake.calls.append(("GET", self.path, ",".join(fields)))
                place_id = unquote(self.path[len("/v1/places/"):].split("?")[0])
                found = fake.places.get(place_id)
                if found is None:
                    self.send_error_json(404, "NOT_FOUND", f"Requested entity was not found: {place_id}")
                    return
                self.send_json(200, _mask(found, fields))

        return Handler

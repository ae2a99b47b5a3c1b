"""Normalisation shared by every source: names, categories, prices, coordinates, distances."""
from __future__ import annotations

import math
import re
import unicodedata

# Source category words -> canonical categories. None: a listing that is not a venue (transport, consulates, ...).
CATEGORY_MAP: dict[str, str | None] = {
    "see": "sight", "sight": "sight", "attraction": "sight", "attractions": "sight",
    "do": "activity", "activity": "activity",
    "eat": "food", "food": "food", "restaurant": "food", "restaurants": "food",
    "drink": "drink", "bar": "drink", "cafe": "drink",
    "buy": "shopping", "shopping": "shopping", "shop": "shopping",
    "sleep": "lodging", "lodging": "lodging", "hotel": "lodging",
    "other": None, "listing": None,
}

_STOP_PREFIX = re.compile(r"^(the|le|la|les|el)\s+")
_PARENS = re.compile(r"\s*[\(\[].*?[\)\]]\s*")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return _NON_ALNUM.sub("-", text).strip("-")


def normalise_name(name: str) -> str:
    """A matching key: case, accents, punctuation, '&', a leading article and parentheticals do not matter."""
    text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode().lower()
    text = _PARENS.sub(" ", text)
    text = text.replace("&", " and ").replace("'", "").replace("\u2019", "")
    text = _NON_ALNUM.sub(" ", text).strip()
    text = _STOP_PREFIX.sub("", text)
    return " ".join(text.split())


def canonical_category(raw: str | None) -> str | None:
    if not raw:
        return None
    return CATEGORY_MAP.get(raw.strip().lower())


def clean_text(value: str | None) -> str:
    if not value:
        return ""
    return " ".join(str(value).split())


def parse_float(value) -> float | None:
    if value is None or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def valid_coords(lat: float | None, lon: float | None) -> tuple[float | None, float | None]:
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None, None
    return lat, lon


_NUM = r"(\d{1,5}(?:[.,]\d{1,2})?)"
# "$10", "$10-20", "$10 – $20", "15 USD"
_AMOUNT = re.compile(r"(?:US)?\$\s?" + _NUM + r"(?:\s?[-\u2013]\s?\$?" + _NUM + r")?|" + _NUM + r"\s?(?:USD|dollars)", re.I)
_FREE = re.compile(r"\bfree\b|\bno charge\b|\bdonation", re.I)
_SYMBOLS = re.compile(r"^\s*([$€£¥₩]{1,4})\s*$")


def price_level_from_amount(amount: float, category: str | None) -> int:
    """Dollar amount -> Places-style level 1..4. Lodging is priced per night, everything else per person."""
    bands = (100, 200, 350) if category == "lodging" else (15, 35, 75)
    if amount <= 0:
        return 0
    for level, upper in enumerate(bands, start=1):
        if amount <= upper:
            return level
    return 4


def parse_price_level(text: str | None, category: str | None) -> int | None:
    """Wikivoyage-style free text ('$10-20', 'Free', '$$') -> 0..4, or None when it says nothing usable."""
    if not text:
        return None
    symbols = _SYMBOLS.match(text)
    if symbols:
        return min(4, len(symbols.group(1)))
    amounts = []
    for m in _AMOUNT.finditer(text):
        for raw in m.groups():
            if raw:
                try:
                    amounts.append(float(raw.replace(",", ".") if raw.count(",") == 1 and len(raw.split(",")[1]) <= 2
                                         else raw.replace(",", "")))
                except ValueError:
                    continue
    if amounts:
        # The typical (upper) adult price, not the child discount: use the largest amount quoted.
        return price_level_from_amount(max(amounts), category)
    if _FREE.search(text):
        return 0
    return None


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))

"""What a source yields: venue listings and local posts, before normalisation and merging."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class VenueRecord:
    source: str                     # adapter name, e.g. "wikivoyage"
    source_id: str                  # stable within the source, used in evidence and de-duplication
    city_id: str
    name: str
    category: str | None            # canonical: sight, activity, food, drink, shopping, lodging (None: not a venue)
    raw_category: str = ""
    description: str = ""
    address: str = ""
    hours: str = ""
    price_text: str = ""
    price_level: int | None = None  # 0 (free) .. 4
    lat: float | None = None
    lon: float | None = None
    url: str = ""
    phone: str = ""
    rating: float | None = None
    cuisines: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)  # source-specific, kept verbatim in quality_signals

    @property
    def has_coords(self) -> bool:
        return self.lat is not None and self.lon is not None


@dataclass
class PostRecord:
    """A local post (Reddit, a blog entry, a scraped JSONL line): evidence about venues it mentions."""

    source: str                     # "reddit", "rss", or the JSONL's own source field
    external_id: str
    city_id: str
    text: str
    title: str = ""
    url: str = ""
    author: str = ""
    score: int | None = None
    created_utc: float | None = None
    channel: str = ""               # subreddit or feed title: where "local" evidence comes from
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def full_text(self) -> str:
        return f"{self.title}\n{self.text}".strip()

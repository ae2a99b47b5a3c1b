"""Local blogs through RSS/Atom feeds (feedparser), fetched with httpx so timeouts are ours.

Feeds are data: <data_dir>/posts/feeds.yaml maps a city id to a list of feed URLs. Tests serve recorded feed XML
from a local server.
"""
from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from pathlib import Path

import yaml

from shared.domains.travel.catalogue.normalise import clean_text
from shared.domains.travel.catalogue.records import PostRecord
from shared.domains.travel.catalogue.sources.base import Source

_TAGS = re.compile(r"<[^>]+>")
USER_AGENT = "concierge-catalogue/0.1 (+rss; read-only)"


def strip_html(text: str) -> str:
    import html

    return clean_text(html.unescape(_TAGS.sub(" ", text or "")))


class RssSource(Source):
    name = "rss"
    kind = "posts"
    networked = True

    def __init__(self, data_dir: Path, *, feeds: dict[str, list[str]] | None = None, timeout_s: float = 10.0) -> None:
        super().__init__(data_dir)
        self._feeds = feeds
        self.timeout_s = timeout_s

    @property
    def feeds_file(self) -> Path:
        return self.data_dir / "posts" / "feeds.yaml"

    def feeds(self) -> dict[str, list[str]]:
        if self._feeds is None:
            loaded = yaml.safe_load(self.feeds_file.read_text()) if self.feeds_file.exists() else None
            self._feeds = loaded or {}
        return self._feeds

    def available(self) -> str | None:
        return None if self.feeds() else f"no feeds configured ({self.feeds_file} maps city ids to feed URLs)"

    def read(self, city) -> Iterator[PostRecord]:
        import feedparser
        import httpx

        for url in self.feeds().get(city.id, []):
            resp = httpx.get(url, timeout=self.timeout_s, headers={"User-Agent": USER_AGENT}, follow_redirects=True)
            resp.raise_for_status()
            feed = feedparser.parse(resp.content)
            channel = clean_text(feed.feed.get("title", "")) or url
            for entry in feed.entries:
                body = entry.get("summary", "")
                if entry.get("content"):
                    body = " ".join(c.get("value", "") for c in entry.content)
                published = entry.get("published_parsed") or entry.get("updated_parsed")
                yield PostRecord(
                    source=self.name,
                    external_id=str(entry.get("id") or entry.get("link") or entry.get("title")),
                    city_id=city.id,
                    title=clean_text(entry.get("title", "")),
                    text=strip_html(body),
                    url=str(entry.get("link", "")),
                    author=clean_text(entry.get("author", "")),
                    created_utc=float(calendar.timegm(published)) if published else None,
                    channel=channel,
                    evidence={"feed": url},
                )

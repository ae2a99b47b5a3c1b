"""Scraped local posts stored as JSONL under <data_dir>/posts/*.jsonl (one JSON object per line).

Fields read (others are ignored): source, external_id (or id), city (name or id), title, text (or body/selftext),
url, author, score, created_utc, channel (or subreddit/feed). The Reddit and RSS scrapers write this same shape with
`python -m shared.domains.travel.catalogue.scrape`, so a network-free run can replay what was scraped earlier.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

from shared.domains.travel.catalogue.normalise import clean_text, slugify
from shared.domains.travel.catalogue.records import PostRecord
from shared.domains.travel.catalogue.sources.base import Source

log = logging.getLogger("concierge.catalogue.posts")


def post_to_json(post: PostRecord) -> dict:
    return {
        "source": post.source, "external_id": post.external_id, "city": post.city_id, "title": post.title,
        "text": post.text, "url": post.url, "author": post.author, "score": post.score,
        "created_utc": post.created_utc, "channel": post.channel,
    }


def post_from_json(obj: dict, city_id: str, default_source: str) -> PostRecord | None:
    text = clean_text(obj.get("text") or obj.get("body") or obj.get("selftext"))
    title = clean_text(obj.get("title"))
    ext = str(obj.get("external_id") or obj.get("id") or "").strip()
    if not ext or not (text or title):
        return None
    score = obj.get("score")
    created = obj.get("created_utc")
    return PostRecord(
        source=str(obj.get("source") or default_source),
        external_id=ext,
        city_id=city_id,
        text=text,
        title=title,
        url=str(obj.get("url") or ""),
        author=str(obj.get("author") or ""),
        score=int(score) if isinstance(score, (int, float)) else None,
        created_utc=float(created) if isinstance(created, (int, float)) else None,
        channel=str(obj.get("channel") or obj.get("subreddit") or obj.get("feed") or ""),
    )


class PostsSource(Source):
    name = "posts"
    kind = "posts"

    @property
    def folder(self) -> Path:
        return self.data_dir / "posts"

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("*.jsonl")) if self.folder.is_dir() else []

    def available(self) -> str | None:
        return None if self.files() else f"no scraped posts (*.jsonl) under {self.folder}"

    def read(self, city) -> Iterator[PostRecord]:
        wanted = {city.id} | {slugify(n) for n in city.names_for(self.name)}
        for path in self.files():
            with open(path, encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, start=1):
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        log.warning("%s:%d is not JSON; skipped", path, lineno)
                        continue
                    if not isinstance(obj, dict) or slugify(str(obj.get("city") or obj.get("city_id") or "")) not in wanted:
                        continue
                    post = post_from_json(obj, city.id, default_source=path.stem)
                    if post is not None:
                        yield post

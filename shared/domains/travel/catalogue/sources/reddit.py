"""Local Reddit posts through PRAW (read-only, application credentials).

Works wherever a network and credentials exist (REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET, optional REDDIT_USER_AGENT,
from the environment or Secret Manager). The city's own subreddit is where local voices are; the searches look for
the language the overrated detector weighs ("tourist trap", "overrated", "hidden gem"...). Tests replay recorded
API responses from a local server (oauth_url / reddit_url point at it).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from shared.adapters.secrets import get_secret
from shared.domains.travel.catalogue.normalise import clean_text
from shared.domains.travel.catalogue.records import PostRecord
from shared.domains.travel.catalogue.sources.base import Source

QUERIES = ("tourist trap", "overrated", "hidden gem", "locals recommend", "avoid")
USER_AGENT = "concierge-catalogue/0.1 (city seeding; read-only)"


def subreddit_for(city) -> str:
    """The city's subreddit by convention: its name without spaces ('San Francisco' -> 'sanfrancisco')."""
    return "".join(ch for ch in city.name if ch.isalnum())


class RedditSource(Source):
    name = "reddit"
    kind = "posts"
    networked = True

    def __init__(self, data_dir: Path, *, reddit=None, per_query: int = 25, **praw_kwargs) -> None:
        super().__init__(data_dir)
        self._reddit = reddit
        self.per_query = per_query
        self._praw_kwargs = praw_kwargs

    def available(self) -> str | None:
        if self._reddit is not None:
            return None
        if not (get_secret("REDDIT_CLIENT_ID") and get_secret("REDDIT_CLIENT_SECRET")):
            return "no Reddit credentials (set REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET)"
        return None

    def client(self):
        if self._reddit is None:
            import praw

            self._reddit = praw.Reddit(
                client_id=get_secret("REDDIT_CLIENT_ID"),
                client_secret=get_secret("REDDIT_CLIENT_SECRET"),
                user_agent=get_secret("REDDIT_USER_AGENT") or USER_AGENT,
                check_for_updates=False,
                check_for_async=False,
                **self._praw_kwargs,
            )
            self._reddit.read_only = True
        return self._reddit

    def read(self, city) -> Iterator[PostRecord]:
        subreddit = self.client().subreddit(subreddit_for(city))
        seen: set[str] = set()
        for query in QUERIES:
            for submission in subreddit.search(query, sort="relevance", time_filter="all", limit=self.per_query):
                if submission.fullname in seen:
                    continue
                seen.add(submission.fullname)
                yield PostRecord(
                    source=self.name,
                    external_id=submission.fullname,
                    city_id=city.id,
                    title=clean_text(submission.title),
                    text=clean_text(getattr(submission, "selftext", "")),
                    url=f"https://www.reddit.com{submission.permalink}",
                    author=str(getattr(submission, "author", "") or ""),
                    score=int(getattr(submission, "score", 0) or 0),
                    created_utc=float(getattr(submission, "created_utc", 0) or 0),
                    channel=f"r/{submission.subreddit.display_name}",
                    evidence={"query": query},
                )

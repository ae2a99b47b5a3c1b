"""Linking local posts to the venues they mention, and judging how local a post's voice is.

A post mentions a venue when the venue's normalised name occurs in the post's normalised text on word boundaries.
Names of a single short word ("Vain", "Fuel") are ignored: they match ordinary prose. Only the sentence of a mention
and the one after it are kept as evidence, so the rest of a long thread does not count for or against the venue.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from shared.domains.travel.catalogue.merge import MergedVenue
from shared.domains.travel.catalogue.normalise import normalise_name
from shared.domains.travel.catalogue.records import PostRecord

_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")
_TOURIST_SELF = re.compile(
    r"\b(visiting|first time in|first trip|we're tourists|i'm a tourist|as a tourist|on vacation|on holiday|"
    r"trip to|itinerary|coming from out of town)\b",
    re.I,
)
# How much a channel speaks for locals: the city's own subreddit most, blogs next, anything else less.
CHANNEL_LOCALITY = {"reddit": 0.8, "rss": 0.6}
DEFAULT_LOCALITY = 0.5


@dataclass
class Mention:
    post: PostRecord
    snippet: str
    local_score: float
    tourist_flag: bool


@dataclass
class PostLinks:
    by_venue: dict[str, list[Mention]] = field(default_factory=dict)
    # (source, external_id) -> the venue mentioned first in the post (scraped_posts.activity_node_id)
    post_venue: dict[tuple[str, str], str | None] = field(default_factory=dict)
    post_scores: dict[tuple[str, str], tuple[float, bool]] = field(default_factory=dict)


def post_locality(post: PostRecord) -> tuple[float, bool]:
    """(local_score in [0,1], tourist_flag): a self-declared visitor is not a local voice."""
    base = CHANNEL_LOCALITY.get(post.source, DEFAULT_LOCALITY)
    tourist = bool(_TOURIST_SELF.search(post.full_text))
    return (round(base * 0.4, 3) if tourist else base), tourist


def _matchable(name: str) -> bool:
    tokens = name.split()
    return len(tokens) >= 2 or len(name) >= 8


def link_posts(posts: list[PostRecord], venues: list[MergedVenue]) -> PostLinks:
    names: dict[str, list[MergedVenue]] = {}
    for v in venues:
        n = v.normalised_name
        if _matchable(n):
            names.setdefault(n, []).append(v)
    patterns = [(re.compile(r"(?<![a-z0-9])" + re.escape(n) + r"(?![a-z0-9])"), vs) for n, vs in names.items()]
    links = PostLinks()
    for post in posts:
        key = (post.source, post.external_id)
        score, tourist = post_locality(post)
        links.post_scores[key] = (score, tourist)
        links.post_venue.setdefault(key, None)
        sentences = [s for s in _SENTENCES.split(post.full_text) if s.strip()]
        norm_sentences = [normalise_name(s) for s in sentences]
        first: tuple[int, int, str] | None = None
        for pattern, vs in patterns:
            positions = [(i, m.start()) for i, s in enumerate(norm_sentences) for m in [pattern.search(s)] if m]
            if not positions:
                continue
            hit = [i for i, _ in positions]
            window = sorted({j for i in hit for j in (i, i + 1) if j < len(sentences)})
            snippet = " ".join(sentences[j] for j in window)
            for v in vs:
                links.by_venue.setdefault(v.id, []).append(Mention(post, snippet, score, tourist))
                candidate = (*positions[0], v.id)
                if first is None or candidate < first:
                    first = candidate
        if first is not None:
            links.post_venue[key] = first[2]
    return links

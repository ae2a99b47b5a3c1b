"""Source adapters behind one interface (base.Source). FILE_SOURCES are read by default; the networked ones
(reddit, rss, places) run when named with --source and configured."""
from __future__ import annotations

from pathlib import Path

from shared.domains.travel.catalogue.sources.base import Source
from shared.domains.travel.catalogue.sources.michelin import MichelinSource
from shared.domains.travel.catalogue.sources.places import PlacesSource
from shared.domains.travel.catalogue.sources.posts import PostsSource
from shared.domains.travel.catalogue.sources.reddit import RedditSource
from shared.domains.travel.catalogue.sources.rss import RssSource
from shared.domains.travel.catalogue.sources.travelplanner import TravelPlannerSource
from shared.domains.travel.catalogue.sources.wikivoyage import WikivoyageSource

REGISTRY: dict[str, type[Source]] = {
    cls.name: cls
    for cls in (WikivoyageSource, TravelPlannerSource, MichelinSource, PostsSource, RedditSource, RssSource, PlacesSource)
}
# Order matters: it is the priority when merged records disagree, and the spelling a city's display name takes.
FILE_SOURCES = ["wikivoyage", "michelin", "travelplanner"]
DEFAULT_SOURCES = ["wikivoyage", "travelplanner", "michelin", "posts"]


def make_source(name: str, data_dir: Path, **kwargs) -> Source:
    try:
        cls = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; choose from {', '.join(sorted(REGISTRY))}") from None
    return cls(data_dir, **kwargs)

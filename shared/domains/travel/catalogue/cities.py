"""Which cities exist: the union of the city names the file sources cover, keyed by slug.

No city is special-cased: a city id is the slug of the name a source files it under ("San Francisco" ->
"san-francisco"), and city_aliases.yaml (data) adds the extra names some sources use.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from shared.domains.travel.catalogue.normalise import slugify

ALIASES_FILE = Path(__file__).with_name("city_aliases.yaml")


@dataclass(frozen=True)
class City:
    id: str
    name: str
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)  # source -> names it files this city under

    def names_for(self, source: str) -> tuple[str, ...]:
        """Names to look for in `source`; search-based sources get the display name."""
        return self.names.get(source) or (self.name,)

    @property
    def sources(self) -> list[str]:
        return sorted(self.names)


class UnknownCity(LookupError):
    def __init__(self, query: str, suggestions: list[str], data_dir: Path) -> None:
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"unknown city {query!r}: no source under {data_dir} covers it.{hint} "
            "List the valid cities with `python -m jobs.seed_city.main --list-cities` "
            "(they come from venues/wikivoyage-2014/per_city_counts.csv and the TravelPlanner/Michelin city columns)."
        )
        self.query = query
        self.suggestions = suggestions


def _aliases() -> dict[str, dict[str, list[str]]]:
    if not ALIASES_FILE.exists():
        return {}
    return yaml.safe_load(ALIASES_FILE.read_text()) or {}


def known_cities(data_dir: Path, source_names: list[str] | None = None) -> dict[str, City]:
    from shared.domains.travel.catalogue.sources import FILE_SOURCES, make_source

    names: dict[str, dict[str, set[str]]] = {}
    display: dict[str, str] = {}
    for source_name in source_names or FILE_SOURCES:
        source = make_source(source_name, data_dir)
        if source.available() is not None:
            continue
        for city_name in sorted(source.city_names()):
            slug = slugify(city_name)
            if not slug:
                continue
            names.setdefault(slug, {}).setdefault(source_name, set()).add(city_name)
            display.setdefault(slug, city_name)  # FILE_SOURCES is ordered: Wikivoyage's spelling wins
    for slug, per_source in _aliases().items():
        if slug not in names:
            continue  # an alias never invents a city the sources do not have
        for source_name, extra in (per_source or {}).items():
            names[slug].setdefault(source_name, set()).update(extra)
    return {
        slug: City(slug, display[slug], {s: tuple(sorted(v)) for s, v in per.items()})
        for slug, per in sorted(names.items())
    }


def resolve_city(query: str, data_dir: Path, *, allow_new: bool = False) -> City:
    """The city a query names. allow_new: a search-based source (Places) will run, so a city no file source covers
    is still a city — named as the caller spelled it."""
    cities = known_cities(data_dir)
    slug = slugify(query or "")
    if slug in cities:
        return cities[slug]
    if allow_new and slug:
        return City(slug, " ".join((query or "").split()), {})
    suggestions = difflib.get_close_matches(slug, list(cities), n=3, cutoff=0.6)
    raise UnknownCity(query, suggestions, data_dir)

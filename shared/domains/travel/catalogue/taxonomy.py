"""The controlled vibe taxonomy (vibe_taxonomy.yaml): loading, keyword evidence and validation."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

TAXONOMY_FILE = Path(__file__).with_name("vibe_taxonomy.yaml")
CATEGORIES = ("sight", "activity", "food", "drink", "shopping", "lodging")


@dataclass(frozen=True)
class Tag:
    id: str
    group: str
    description: str
    keywords: tuple[str, ...]
    categories: tuple[str, ...]  # empty: applies to any category
    pattern: re.Pattern | None

    def applies_to(self, category: str | None) -> bool:
        return not self.categories or category is None or category in self.categories

    def keyword_hits(self, text: str) -> list[str]:
        if self.pattern is None or not text:
            return []
        return sorted({m.group(0).lower() for m in self.pattern.finditer(text)})


@dataclass(frozen=True)
class Taxonomy:
    version: str
    tags: tuple[Tag, ...]

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.tags]

    def get(self, tag_id: str) -> Tag:
        for tag in self.tags:
            if tag.id == tag_id:
                return tag
        raise KeyError(tag_id)

    def index(self) -> dict[str, int]:
        return {t.id: i for i, t in enumerate(self.tags)}

    def clean(self, tags: list[str]) -> tuple[list[str], list[str]]:
        """(known tags in taxonomy order, unknown ones) — the teacher may only emit taxonomy tags."""
        known = set(self.ids)
        given = {str(t).strip().lower() for t in tags}
        return [t for t in self.ids if t in given], sorted(given - known)


def _compile(keywords: list[str]) -> re.Pattern | None:
    if not keywords:
        return None
    parts = sorted({re.escape(k.lower()) for k in keywords}, key=len, reverse=True)
    # Word boundaries so "expensive" does not fire inside "inexpensive" and "art" not inside "party".
    return re.compile(r"(?<![\w-])(?:" + "|".join(parts) + r")(?![\w-])", re.IGNORECASE)


def load_taxonomy(path: Path = TAXONOMY_FILE) -> Taxonomy:
    raw = yaml.safe_load(path.read_text())
    tags = []
    seen: set[str] = set()
    for entry in raw["tags"]:
        tag_id = entry["id"]
        if tag_id in seen:
            raise ValueError(f"{path}: duplicate tag {tag_id!r}")
        seen.add(tag_id)
        cats = tuple(entry.get("categories") or ())
        unknown = set(cats) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"{path}: tag {tag_id!r} names unknown categories {sorted(unknown)}")
        keywords = [str(k) for k in entry.get("keywords") or []]
        tags.append(Tag(tag_id, entry["group"], entry["description"].strip(), tuple(keywords), cats, _compile(keywords)))
    return Taxonomy(raw["version"], tuple(tags))


@lru_cache(maxsize=1)
def get_taxonomy() -> Taxonomy:
    return load_taxonomy()

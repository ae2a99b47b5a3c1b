"""Named sources: public datasets under settings.data_dir/interactions turned into contract rows.

    movielens-100k  1,682 movies (u.item), 100,000 ratings (u.data)               event_type "rating", weight 1
    movielens-1m    3,883 movies (movies.dat), 1,000,209 user-movie pairs          event_type "interaction", weight 1
                    (the movielens-1m-implicit copy: no ratings, no timestamps, see below)
    foodcom         1,128 recipes (RAW_recipes.csv), 5,000 reviews (RAW_interactions.csv, the foodcom-sample copy)
                    event_type "review", weight 1

The interactions come from the engine's loaders (shared.engine.data.loaders), so users, items, row order and weights
are exactly those the engine's benchmarks train and evaluate on. Items: a movie's title, its genres as text and as
categories, its year as an attribute; a recipe's name as title, "tags: ...". and its description as text, a few of
its tags (course, diet, cuisine, main ingredient: FOODCOM_CATEGORIES) as categories, minutes and n_ingredients as
attributes.

MovieLens 1M without time: the copy we have holds no timestamps (SOURCE.txt). Every event is dated
MOVIELENS_1M_DATE (after the last rating of the original collection) and the catalogue's source says
`has_time: false`, so store.interaction_dataset gives the engine no timestamps for it, as the loader does; a
user's history is then in file order (row ids break the tie).
"""
from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from shared.domains.catalogues.contract import CatalogueItem, InteractionTable, to_micros, validate_items
from shared.domains.errors import InvalidRequest

MOVIELENS_1M_DATE = datetime(2003, 3, 1, tzinfo=UTC)
_YEAR = re.compile(r"\((\d{4})\)\s*$")

# Food.com tags that say what a recipe is (course, diet, cuisine, main ingredient), in the order they are preferred
# as categories; the rest (time-to-make, 60-minutes-or-less, preparation, ...) describe the tagging itself.
FOODCOM_CATEGORIES = (
    "main-dish", "desserts", "side-dishes", "appetizers", "breakfast", "brunch", "lunch", "salads", "soups-stews",
    "breads", "beverages", "snacks", "sauces", "condiments-etc", "cookies-and-brownies", "cakes", "sandwiches",
    "casseroles", "vegetarian", "vegan", "gluten-free", "low-carb", "low-fat", "healthy", "american", "italian",
    "mexican", "asian", "european", "southern-united-states", "chicken", "beef", "pork", "seafood", "fish",
    "pasta", "rice", "potatoes", "vegetables", "fruit", "eggs", "cheese", "chocolate",
)
MAX_FOODCOM_CATEGORIES = 4


class UnknownSource(InvalidRequest):
    pass


@dataclass
class SourceData:
    catalogue_id: str
    title: str
    items: list[CatalogueItem]
    interactions: InteractionTable
    source: dict[str, Any] = field(default_factory=dict)   # stored in catalogues.source


def _interactions_dir() -> Path:
    from shared.engine.data.loaders import interactions_dir

    return interactions_dir()


def _require(path: Path) -> Path:
    from shared.engine.data.loaders import DatasetNotFound

    if not path.exists():
        raise DatasetNotFound(f"{path} not found: set CONCIERGE_DATA_DIR to the folder holding interactions/ "
                              "(see ../shared/data/README.md)")
    return path


def _rows(dataset) -> tuple[np.ndarray, np.ndarray]:
    """A loader's rows as (user id, item id) string arrays, in the file's order."""
    return dataset.user_ids[dataset.users], dataset.item_ids[dataset.items]


def _year(title: str) -> dict[str, Any]:
    m = _YEAR.search(title)
    return {"year": int(m.group(1))} if m else {}


def _movie(item_id: str, title: str, genres: list[str]) -> dict[str, Any]:
    genres = [g for g in genres if g and g != "unknown"]
    return {"item_id": item_id, "title": title, "text": ", ".join(genres), "categories": genres,
            "attributes": _year(title)}


def movielens_100k() -> SourceData:
    from shared.engine.data.loaders import movielens_100k as load

    folder = _interactions_dir() / "movielens-100k"
    genre_names = {}
    for line in _require(folder / "u.genre").read_text(encoding="latin-1").splitlines():
        if "|" in line:
            name, idx = line.rsplit("|", 1)
            genre_names[int(idx)] = name
    rows = []
    for line in _require(folder / "u.item").read_text(encoding="latin-1").splitlines():
        parts = line.split("|")
        if len(parts) < 6:
            continue
        flags = parts[5:]
        genres = [genre_names[i] for i, f in enumerate(flags) if f.strip() == "1" and i in genre_names]
        rows.append(_movie(parts[0], parts[1], genres))
    data = load(folder, with_titles=False)
    users, items = _rows(data)
    table = InteractionTable.from_columns(users, items, data.timestamps, event_type="rating")
    return SourceData("movielens-100k", "MovieLens 100K (movies)", validate_items(rows, "movielens-100k u.item"),
                      table, {"kind": "named", "name": "movielens-100k", "dataset": "movielens-100k", "has_time": True,
                              "files": ["u.item", "u.genre", "u.data"]})


def movielens_1m() -> SourceData:
    from shared.engine.data.loaders import movielens_1m_implicit as load

    folder = _interactions_dir() / "movielens-1m-implicit"
    rows = []
    for line in _require(folder / "movies.dat").read_text(encoding="latin-1").splitlines():
        parts = line.split("::")
        if len(parts) == 3:
            rows.append(_movie(parts[0], parts[1], parts[2].split("|")))
    data = load(folder, with_titles=False)
    users, items = _rows(data)
    when = np.full(len(users), to_micros(MOVIELENS_1M_DATE), dtype=np.int64)
    table = InteractionTable.from_columns(users, items, when, event_type="interaction")
    return SourceData("movielens-1m", "MovieLens 1M (movies)", validate_items(rows, "movielens-1m movies.dat"),
                      table, {"kind": "named", "name": "movielens-1m", "dataset": "movielens-1m-implicit",
                              "has_time": False, "files": ["movies.dat", "ratings.parquet"],
                              "note": f"no timestamps in the source: every event is dated {MOVIELENS_1M_DATE:%Y-%m-%d}"})


def _tags(raw: str | None) -> list[str]:
    if not raw:
        return []
    try:
        parsed = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return []
    return [str(t).strip() for t in parsed if str(t).strip()] if isinstance(parsed, list) else []


def foodcom() -> SourceData:
    import pyarrow.csv as pacsv

    from shared.engine.data.loaders import foodcom_sample as load

    folder = _interactions_dir() / "foodcom-sample"
    rec = pacsv.read_csv(
        _require(folder / "RAW_recipes.csv"),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={"id": "string", "name": "string", "tags": "string", "description": "string"},
            include_columns=["id", "name", "minutes", "tags", "description", "n_ingredients"]),
    ).to_pydict()
    preferred = {t: i for i, t in enumerate(FOODCOM_CATEGORIES)}
    rows = []
    for rid, name, minutes, tags, description, n_ingr in zip(rec["id"], rec["name"], rec["minutes"], rec["tags"],
                                                            rec["description"], rec["n_ingredients"]):
        tag_list = _tags(tags)
        cats = sorted((t for t in set(tag_list) if t in preferred), key=preferred.__getitem__)
        text_parts = []
        if tag_list:
            text_parts.append("tags: " + ", ".join(tag_list))
        if description and description.strip():
            text_parts.append(" ".join(description.split()))
        attrs = {k: int(v) for k, v in (("minutes", minutes), ("n_ingredients", n_ingr)) if v is not None}
        rows.append({"item_id": rid, "title": " ".join((name or "").split()) or f"recipe {rid}",
                     "text": ". ".join(text_parts), "categories": cats[:MAX_FOODCOM_CATEGORIES], "attributes": attrs})
    data = load(folder, with_recipes=False)
    users, items = _rows(data)
    table = InteractionTable.from_columns(users, items, data.timestamps, event_type="review")
    return SourceData("foodcom", "Food.com (recipes)", validate_items(rows, "foodcom RAW_recipes.csv"), table,
                      {"kind": "named", "name": "foodcom", "dataset": "foodcom-sample", "has_time": True,
                       "files": ["RAW_recipes.csv", "RAW_interactions.csv"]})


SOURCES: dict[str, Callable[[], SourceData]] = {
    "movielens-100k": movielens_100k,
    "movielens-1m": movielens_1m,
    "foodcom": foodcom,
}


def load_source(name: str) -> SourceData:
    try:
        loader = SOURCES[name]
    except KeyError:
        raise UnknownSource(f"unknown catalogue source {name!r}; named sources: {', '.join(sorted(SOURCES))} "
                            "(or give --items and --interactions files)", "catalogue") from None
    return loader()

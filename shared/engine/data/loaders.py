"""Loaders for the public interaction datasets under settings.data_dir/interactions (read in place, never copied).

Every loader keeps the file's row order: the Microsoft Recommenders stratified splitter draws one random number per
row in file order, so reproducing their split depends on it.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from shared.engine.data.dataset import InteractionDataset
from shared.settings import get_settings


class DatasetNotFound(FileNotFoundError):
    pass


def interactions_dir() -> Path:
    return get_settings().data_dir / "interactions"


def _require(path: Path) -> Path:
    if not path.exists():
        raise DatasetNotFound(
            f"{path} not found: set CONCIERGE_DATA_DIR to the folder holding interactions/ (see ../shared/data/README.md)"
        )
    return path


def movielens_100k(root: Path | None = None, with_titles: bool = True) -> InteractionDataset:
    """100,000 ratings; every rating is one implicit interaction (weight 1), the 1-5 value kept as context."""
    folder = root or interactions_dir() / "movielens-100k"
    raw = np.loadtxt(_require(folder / "u.data"), dtype=np.int64)
    features = {}
    if with_titles and (folder / "u.item").exists():
        titles = {}
        for line in (folder / "u.item").read_text(encoding="latin-1").splitlines():
            parts = line.split("|")
            if len(parts) > 1:
                titles[parts[0]] = parts[1]
        features["title"] = titles
    return InteractionDataset.from_columns(
        "movielens-100k",
        raw[:, 0].astype(str),
        raw[:, 1].astype(str),
        timestamps=raw[:, 3] * 1_000_000,
        weights=None,
        context={"rating": raw[:, 2].astype(np.int8)},
        item_features=features,
    )


def movielens_1m_implicit(root: Path | None = None, with_titles: bool = True) -> InteractionDataset:
    """All 1,000,209 ML-1M user-movie pairs, without ratings or time (the copy we have has neither)."""
    folder = root or interactions_dir() / "movielens-1m-implicit"
    table = pq.read_table(_require(folder / "ratings.parquet"), columns=["userID", "movieID"])
    features = {}
    if with_titles and (folder / "movies.dat").exists():
        titles, genres = {}, {}
        for line in (folder / "movies.dat").read_text(encoding="latin-1").splitlines():
            parts = line.split("::")
            if len(parts) == 3:
                titles[parts[0]] = parts[1]
                genres[parts[0]] = parts[2]
        features = {"title": titles, "genres": genres}
    return InteractionDataset.from_columns(
        "movielens-1m-implicit",
        table.column("userID").to_numpy(zero_copy_only=False),
        table.column("movieID").to_numpy(zero_copy_only=False),
        timestamps=None,
        item_features=features,
    )


def foodcom_sample(root: Path | None = None, with_recipes: bool = True) -> InteractionDataset:
    """5,000 Food.com reviews (3,447 users, most with one review): text-rich, very sparse.

    Rating 0 on Food.com means "reviewed without a rating"; it is still an interaction, so every row weighs 1.
    """
    folder = root or interactions_dir() / "foodcom-sample"
    opts = pacsv.ParseOptions(newlines_in_values=True)
    convert = pacsv.ConvertOptions(
        column_types={"user_id": "string", "recipe_id": "string", "date": "date32", "rating": "int8"},
        include_columns=["user_id", "recipe_id", "date", "rating"],
    )
    table = pacsv.read_csv(_require(folder / "RAW_interactions.csv"), parse_options=opts, convert_options=convert)
    dates = table.column("date").to_numpy(zero_copy_only=False).astype("datetime64[us]").astype(np.int64)
    features = {}
    if with_recipes and (folder / "RAW_recipes.csv").exists():
        rec = pacsv.read_csv(
            folder / "RAW_recipes.csv",
            parse_options=opts,
            convert_options=pacsv.ConvertOptions(
                column_types={"id": "string"}, include_columns=["id", "name", "tags", "description"]
            ),
        ).to_pydict()
        for col in ("name", "tags", "description"):
            features[col] = dict(zip(rec["id"], rec[col]))
    return InteractionDataset.from_columns(
        "foodcom-sample",
        table.column("user_id").to_numpy(zero_copy_only=False),
        table.column("recipe_id").to_numpy(zero_copy_only=False),
        timestamps=dates,
        context={"rating": table.column("rating").to_numpy(zero_copy_only=False)},
        item_features=features,
    )


LOADERS: dict[str, Callable[[], InteractionDataset]] = {
    "movielens-100k": movielens_100k,
    "movielens-1m-implicit": movielens_1m_implicit,
    "foodcom-sample": foodcom_sample,
}


def load_dataset(name: str) -> InteractionDataset:
    try:
        loader = LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(LOADERS))} (or 'signals')") from None
    return loader()

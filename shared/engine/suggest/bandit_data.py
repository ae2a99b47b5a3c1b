"""Open Bandit Dataset logs as typed numpy arrays.

Why a loader of our own: the reference loader (obp.dataset.OpenBanditDataset) pins old numpy/torch and does not
install on Python 3.11, and it flattens the context into one matrix. Here the pieces stay apart because they
play different roles: the user's categorical features and affinity vector are the *context* a serving request
carries, the item, position and click are the logged *decision and outcome*, and the propensity score is what
off-policy estimation needs. Files (one campaign of one logging policy):

    <root>/<policy>/<campaign>/<campaign>.csv       one row per impression: timestamp, item_id, position (1..3),
                                                     click, propensity_score, user_feature_0..3 (hashed
                                                     categoricals), user-item_affinity_0..N-1
    <root>/<policy>/<campaign>/item_context.csv     item_id, item_feature_0 (numeric), item_feature_1..3 (hashed)

Categorical strings become integer codes *per file* (with the strings kept as `levels`): the two policies' item
files hash the same item categories to different strings, so codes are only comparable within one file, and
anything that must survive across files (a trained feature space, a serving request) keys on the strings.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

DATASET = ("bandits", "open-bandit-sample")
USER_FIELDS = ("user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3")
ITEM_CATEGORICAL_FIELDS = ("item_feature_1", "item_feature_2", "item_feature_3")
AFFINITY_PREFIX = "user-item_affinity_"
AFFINITY_KEY = "user_item_affinity"  # the serving context's key for the affinity vector
LEN_LIST = 3  # OBD's widget shows three items; positions are 0..2


def dataset_root(data_dir: Path | None = None) -> Path:
    """Where the sample lives: settings.data_dir/bandits/open-bandit-sample (CONCIERGE_DATA_DIR moves it)."""
    if data_dir is None:
        from shared.settings import get_settings

        data_dir = get_settings().data_dir
    return Path(data_dir).joinpath(*DATASET)


def _encode(values: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    levels, codes = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    return codes.astype(np.int64), tuple(str(v) for v in levels)


@dataclass(frozen=True)
class ItemCatalogue:
    """The action set: one row per item id 0..n_actions-1."""

    feature_0: np.ndarray                       # [n_actions] float, the numeric item feature
    categorical: np.ndarray                     # [n_actions, 3] int codes into `levels`
    levels: tuple[tuple[str, ...], ...]         # per categorical field, code -> hashed string

    @property
    def n_actions(self) -> int:
        return len(self.feature_0)

    def strings(self) -> np.ndarray:
        """[n_actions, 3] hashed category strings: what a feature space keys on (codes differ across files)."""
        return np.array([[self.levels[f][c] for f, c in enumerate(row)] for row in self.categorical], dtype=object)


@dataclass(frozen=True)
class BanditLog:
    """One logging policy's impressions, in file (chronological) order.

    `position` is 0-based (the file's 1..3 minus one), as off-policy estimators index slots. `pscore` is the
    logging policy's probability of putting this item in this position at that time.
    """

    policy: str
    campaign: str
    timestamp: np.ndarray                       # [n] float, POSIX seconds
    item: np.ndarray                            # [n] int, 0..n_actions-1
    position: np.ndarray                        # [n] int, 0..len_list-1
    click: np.ndarray                           # [n] int, 0/1
    pscore: np.ndarray                          # [n] float in (0, 1]
    user: np.ndarray                            # [n, 4] int codes into user_levels
    user_levels: tuple[tuple[str, ...], ...]    # per user field, code -> hashed string
    affinity: np.ndarray                        # [n, n_actions] float, user-item affinity
    items: ItemCatalogue
    len_list: int

    def __post_init__(self) -> None:
        n = len(self.item)
        for name in ("timestamp", "position", "click", "pscore", "user", "affinity"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows, item has {n}")
        if n and (self.item.min() < 0 or self.item.max() >= self.n_actions):
            raise ValueError("item ids must index the item catalogue")
        if n and (self.position.min() < 0 or self.position.max() >= self.len_list):
            raise ValueError("positions must be 0-based and below len_list")
        if n and not ((self.pscore > 0) & (self.pscore <= 1)).all():
            raise ValueError("propensity scores must lie in (0, 1]")
        if self.affinity.shape[1] != self.n_actions:
            raise ValueError("one affinity column per item is expected")

    @property
    def n_rounds(self) -> int:
        return len(self.item)

    @property
    def n_actions(self) -> int:
        return self.items.n_actions

    def user_strings(self, rows: np.ndarray | None = None) -> np.ndarray:
        """[n, 4] hashed strings of the user features (object array)."""
        codes = self.user if rows is None else self.user[rows]
        out = np.empty(codes.shape, dtype=object)
        for f, levels in enumerate(self.user_levels):
            out[:, f] = np.asarray(levels, dtype=object)[codes[:, f]]
        return out

    def context(self, i: int) -> dict:
        """Round i's context as a serving request would carry it: hashed strings and the affinity vector."""
        ctx: dict = {field: self.user_levels[f][int(self.user[i, f])] for f, field in enumerate(USER_FIELDS)}
        ctx[AFFINITY_KEY] = self.affinity[i].tolist()
        return ctx

    def subset(self, rows: np.ndarray) -> BanditLog:
        """The same log restricted to (or resampled at) `rows`; levels and catalogue are shared."""
        rows = np.asarray(rows, dtype=np.int64)
        return BanditLog(self.policy, self.campaign, self.timestamp[rows], self.item[rows], self.position[rows],
                         self.click[rows], self.pscore[rows], self.user[rows], self.user_levels,
                         self.affinity[rows], self.items, self.len_list)


def load_items(path: Path) -> ItemCatalogue:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows.sort(key=lambda r: int(r["item_id"]))
    ids = [int(r["item_id"]) for r in rows]
    if ids != list(range(len(ids))):
        raise ValueError(f"{path}: item ids must be 0..n-1 without gaps")
    encoded = [_encode([r[f] for r in rows]) for f in ITEM_CATEGORICAL_FIELDS]
    return ItemCatalogue(
        feature_0=np.array([float(r["item_feature_0"]) for r in rows]),
        categorical=np.stack([codes for codes, _ in encoded], axis=1),
        levels=tuple(levels for _, levels in encoded),
    )


def load_log(policy: str, campaign: str = "all", root: Path | None = None, len_list: int = LEN_LIST) -> BanditLog:
    """Read <root>/<policy>/<campaign>/ (root defaults to settings.data_dir/bandits/open-bandit-sample)."""
    folder = (dataset_root() if root is None else Path(root)) / policy / campaign
    items = load_items(folder / "item_context.csv")
    with open(folder / f"{campaign}.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        rows = list(reader)
    affinity_cols = [c for c in header if c.startswith(AFFINITY_PREFIX)]
    affinity_cols.sort(key=lambda c: int(c[len(AFFINITY_PREFIX):]))
    if len(affinity_cols) != items.n_actions:
        raise ValueError(f"{folder}: {len(affinity_cols)} affinity columns for {items.n_actions} items")
    positions = np.array([int(r["position"]) for r in rows], dtype=np.int64)
    user = [_encode([r[f] for r in rows]) for f in USER_FIELDS]
    return BanditLog(
        policy=policy,
        campaign=campaign,
        timestamp=np.array([datetime.fromisoformat(r["timestamp"]).timestamp() for r in rows]),
        item=np.array([int(r["item_id"]) for r in rows], dtype=np.int64),
        position=positions - 1,
        click=np.array([int(r["click"]) for r in rows], dtype=np.int64),
        pscore=np.array([float(r["propensity_score"]) for r in rows]),
        user=np.stack([codes for codes, _ in user], axis=1),
        user_levels=tuple(levels for _, levels in user),
        affinity=np.array([[float(r[c]) for c in affinity_cols] for r in rows]).reshape(len(rows), items.n_actions),
        items=items,
        len_list=len_list,
    )

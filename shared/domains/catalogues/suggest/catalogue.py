"""The suggestion catalogue and its offline candidate lists.

Which items: the Open Bandit sample's 80 items (ZOZOTOWN's 3-slot widget, campaign "all"), read at first use from
settings.data_dir/bandits/open-bandit-sample (the datasets bucket, mounted read-only at /data in the cloud). Why
not a Postgres import like the other catalogues: the items are only ids with hashed features, the click log that
defines them is the same file the rankers train on, and reading it where the feature definition reads it keeps
serving and training on one copy (no import step that could drift from it). A user who clones the repository and
starts the stack gets suggestions at once.

Candidates are computed once per process from the random (uniform) log, so they are unbiased by any past ranking:
- by category: per item_feature_1 level, its items by smoothed click rate (the top N);
- by user similarity: per user segment (user_feature_0, the coarsest user field), the items its users clicked
  most often, smoothed towards the item's overall rate: users alike in that feature are the similar users;
- popular: every item by smoothed click rate (fills a list when the others are short).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

TOP_N = 10
CATEGORY_FIELD = 0   # item_feature_1: 12 levels on the sample
SEGMENT_FIELD = 0    # user_feature_0: 3 levels


@dataclass(frozen=True)
class SuggestCatalogue:
    stats: object                       # FeatureStats of the whole random log (the fallback's statistics)
    category: np.ndarray                # [n_items] level string of item_feature_1
    by_category: dict[str, list[int]]
    by_segment: dict[str, list[int]]
    popular: list[int]
    n_items: int
    len_list: int

    def candidates(self, user_features: dict[str, str], current_item: int | None) -> list[int]:
        """Segment candidates, the current item's category, then the most popular categories' tops; unique."""
        out: list[int] = []
        segment = user_features.get("user_feature_0")
        if segment in self.by_segment:
            out += self.by_segment[segment]
        if current_item is not None:
            out += self.by_category[str(self.category[current_item])]
        for item in self.popular[:TOP_N]:
            out += self.by_category[str(self.category[item])][:3]
        out += self.popular
        seen = dict.fromkeys(i for i in out if i != current_item)
        return list(seen)


def build_catalogue(log) -> SuggestCatalogue:
    from shared.engine.suggest.features import FeatureStats

    stats = FeatureStats.from_log(log)
    ctr = stats.item_ctr
    strings = log.items.strings()
    category = strings[:, CATEGORY_FIELD]
    by_category = {}
    for level in np.unique(category):
        items = np.flatnonzero(category == level)
        by_category[str(level)] = [int(i) for i in items[np.argsort(-ctr[items], kind="stable")][:TOP_N]]
    by_segment = {}
    seg = log.user[:, SEGMENT_FIELD]
    for code, level in enumerate(log.user_levels[SEGMENT_FIELD]):
        rows = seg == code
        clicks = np.bincount(log.item[rows], weights=log.click[rows].astype(float), minlength=log.n_actions)
        shown = np.bincount(log.item[rows], minlength=log.n_actions).astype(float)
        strength = stats.prior_alpha + stats.prior_beta
        rate = (clicks + ctr * strength) / (shown + strength)   # shrunk towards the item's own rate
        by_segment[str(level)] = [int(i) for i in np.argsort(-rate, kind="stable")[:TOP_N]]
    popular = [int(i) for i in np.argsort(-ctr, kind="stable")]
    return SuggestCatalogue(stats, category, by_category, by_segment, popular, log.n_actions, log.len_list)


_lock = threading.Lock()
_catalogue: SuggestCatalogue | None = None


def get_catalogue() -> SuggestCatalogue:
    """Loaded once per process (about half a second), at the first request or at warm-up."""
    global _catalogue
    if _catalogue is None:
        with _lock:
            if _catalogue is None:
                from shared.engine.suggest.bandit_data import load_log

                _catalogue = build_catalogue(load_log("random", "all"))
    return _catalogue

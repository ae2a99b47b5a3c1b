"""The one feature definition for click prediction: training rows and serving candidates go through `featurize`.

Training/serving skew is the classic silent failure of a click model, so there is exactly one function that turns
(context, candidate item, position, statistics) into a row, and two thin adapters that only build its inputs: one
from logged rows (`training_features`) and one from a serving request's context dict and a candidate list
(`serving_features`). A unit test checks that both give identical rows for the same (context, item, position).

Columns (`feature_names`):
- user categoricals one-hot over the levels seen in training (an unseen level is all zeros, not an error: a new
  user segment must still be served). A vocabulary rather than the hashing trick: with 3-9 levels per field any
  fixed width small enough to be worth it collides.
- `user_affinity_total` log1p of the sum of the user's affinity vector: how much history the user has at all
  (on the random log users with any affinity click about 4x as often).
- `affinity` the user-item affinity for *this* candidate.
- item features: `item_feature_0` (numeric) and item_feature_1..3 one-hot over the catalogue's levels.
- position one-hot.
- `item_ctr` the item's click rate (its popularity, per impression) smoothed towards the global rate with a
  Beta prior, and `position_ctr` the slot's smoothed click rate. Rates, not counts: a click count grows with the
  length of the log, which would make it a proxy for time.

The Beta prior is empirical Bayes: its mean is the global click rate and its strength (pseudo-impressions) maximises
the beta-binomial marginal likelihood of the per-item counts. Nothing is hand-tuned, and when the data cannot
tell items apart (OBD: ~30 training clicks over 80 items) the fitted prior is so strong that item CTR is almost the
global rate, which is the honest answer. Position CTR is smoothed with the same prior (three slots are too few to
fit a prior of their own).

Click-rate features computed on the rows a model trains on leak the label (an item's click is in its own CTR), and
K-fold target encoding is no cure here: with items that barely differ, a row's out-of-fold rate is *lower* when it
was a click (its click is missing from the other folds), and a model learns that inverted signal. Training rows
therefore get *ordered* statistics (CatBoost's ordered target statistics, Prokhorenkova et al. 2018): each row's
counts are those of the training rows logged before it, exactly what serving would have known at that moment; the
prior's two numbers come from all training rows. Validation, test and serving use the counts of all training rows.
The price: early training rows saw few counts, so the CTR columns are spread differently on training rows than at
scoring time, and a weakly regularised model can turn that into a shifted mean (on the OBD random log, logistic
regression at C=1 predicts a 0.0027 mean click rate for a 0.0038 log). Choose regularisation by out-of-sample
log-loss (bench/suggest_bench.py does), which penalises exactly that.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize, stats

from shared.engine.suggest.bandit_data import AFFINITY_KEY, ITEM_CATEGORICAL_FIELDS, USER_FIELDS, BanditLog

MAX_PRIOR_STRENGTH = 1e7  # pseudo-impressions; the bound is reached when items are indistinguishable


def fit_beta_prior(clicks: np.ndarray, impressions: np.ndarray) -> tuple[float, float]:
    """(alpha, beta) of a Beta prior on per-group click rates, by maximum beta-binomial marginal likelihood with the
    mean fixed at the pooled rate (Jeffreys-corrected so that zero clicks still give a positive rate)."""
    clicks = np.asarray(clicks, dtype=np.float64)
    impressions = np.asarray(impressions, dtype=np.float64)
    total = impressions.sum()
    if total <= 0:
        raise ValueError("no impressions to estimate click rates from")
    mean = (clicks.sum() + 0.5) / (total + 1.0)
    seen = impressions > 0
    k, n = clicks[seen], impressions[seen]

    def neg_log_lik(log_m: float) -> float:
        m = np.exp(log_m)
        return -float(stats.betabinom.logpmf(k, n, mean * m, (1 - mean) * m).sum())

    res = optimize.minimize_scalar(neg_log_lik, bounds=(0.0, np.log(MAX_PRIOR_STRENGTH)), method="bounded")
    m = float(np.exp(res.x))
    return mean * m, (1 - mean) * m


def _level_index(levels: Sequence[str], values: np.ndarray) -> np.ndarray:
    """Codes of `values` in `levels`; -1 for a value not among them."""
    lookup = {v: i for i, v in enumerate(levels)}
    return np.array([lookup.get(str(v), -1) for v in values], dtype=np.int64)


@dataclass(frozen=True)
class RowCounts:
    """Per-row click and impression counts behind the CTR columns: the training statistics as they stood when each
    row was logged (ordered statistics), or the final ones (`FeatureStats.counts_at`)."""

    item_clicks: np.ndarray
    item_impressions: np.ndarray
    position_clicks: np.ndarray
    position_impressions: np.ndarray


@dataclass(frozen=True)
class FeatureStats:
    """Everything the features need from training time: vocabularies, the item catalogue, click counts and the
    Beta prior. Small and JSON-able (`to_dict`), so a serving process loads it next to the model."""

    user_levels: tuple[tuple[str, ...], ...]      # per user field, the one-hot levels
    item_numeric: np.ndarray                      # [n_actions] item_feature_0
    item_levels: tuple[tuple[str, ...], ...]      # per item categorical field, the one-hot levels
    item_categorical: np.ndarray                  # [n_actions, 3] codes into item_levels
    item_clicks: np.ndarray                       # [n_actions]
    item_impressions: np.ndarray                  # [n_actions]
    position_clicks: np.ndarray                   # [len_list]
    position_impressions: np.ndarray              # [len_list]
    prior_alpha: float
    prior_beta: float

    @classmethod
    def from_log(cls, log: BanditLog, rows: np.ndarray | None = None) -> FeatureStats:
        """Vocabularies and counts from the training rows of `log` (all rows when None)."""
        rows = np.arange(log.n_rounds) if rows is None else np.asarray(rows, dtype=np.int64)
        used = [np.unique(log.user[rows, f]) for f in range(len(USER_FIELDS))]
        user_levels = tuple(tuple(log.user_levels[f][c] for c in used[f]) for f in range(len(USER_FIELDS)))
        base = cls(user_levels, log.items.feature_0.astype(np.float64), log.items.levels,
                   log.items.categorical.copy(), np.zeros(log.n_actions), np.zeros(log.n_actions),
                   np.zeros(log.len_list), np.zeros(log.len_list), 1.0, 1.0)
        return base.recount(log, rows)

    def recount(self, log: BanditLog, rows: np.ndarray, prior: tuple[float, float] | None = None) -> FeatureStats:
        """The same feature space with click counts from other rows (e.g. those logged before some moment), and the
        prior refitted to them unless one is given."""
        rows = np.asarray(rows, dtype=np.int64)
        item, pos, click = log.item[rows], log.position[rows], log.click[rows].astype(np.float64)
        ic = np.bincount(item, weights=click, minlength=self.n_actions)
        ii = np.bincount(item, minlength=self.n_actions).astype(np.float64)
        alpha, beta = fit_beta_prior(ic, ii) if prior is None else prior
        return replace(self, item_clicks=ic, item_impressions=ii,
                       position_clicks=np.bincount(pos, weights=click, minlength=self.len_list),
                       position_impressions=np.bincount(pos, minlength=self.len_list).astype(np.float64),
                       prior_alpha=alpha, prior_beta=beta)

    @property
    def n_actions(self) -> int:
        return len(self.item_numeric)

    @property
    def len_list(self) -> int:
        return len(self.position_clicks)

    @property
    def prior_mean(self) -> float:
        return self.prior_alpha / (self.prior_alpha + self.prior_beta)

    def smoothed_ctr(self, clicks: np.ndarray, impressions: np.ndarray) -> np.ndarray:
        """Posterior-mean click rate under the Beta prior: the one smoothing formula every CTR column uses."""
        return (clicks + self.prior_alpha) / (impressions + self.prior_alpha + self.prior_beta)

    @property
    def item_ctr(self) -> np.ndarray:
        return self.smoothed_ctr(self.item_clicks, self.item_impressions)

    @property
    def position_ctr(self) -> np.ndarray:
        return self.smoothed_ctr(self.position_clicks, self.position_impressions)

    def counts_at(self, items: np.ndarray, positions: np.ndarray) -> RowCounts:
        """The (final) counts behind each row's CTR columns."""
        return RowCounts(self.item_clicks[items], self.item_impressions[items], self.position_clicks[positions],
                         self.position_impressions[positions])

    def to_dict(self) -> dict:
        return {
            "user_levels": [list(v) for v in self.user_levels],
            "item_numeric": self.item_numeric.tolist(),
            "item_levels": [list(v) for v in self.item_levels],
            "item_categorical": self.item_categorical.tolist(),
            "item_clicks": self.item_clicks.tolist(),
            "item_impressions": self.item_impressions.tolist(),
            "position_clicks": self.position_clicks.tolist(),
            "position_impressions": self.position_impressions.tolist(),
            "prior_alpha": self.prior_alpha,
            "prior_beta": self.prior_beta,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FeatureStats:
        return cls(
            user_levels=tuple(tuple(v) for v in data["user_levels"]),
            item_numeric=np.asarray(data["item_numeric"], dtype=np.float64),
            item_levels=tuple(tuple(v) for v in data["item_levels"]),
            item_categorical=np.asarray(data["item_categorical"], dtype=np.int64),
            item_clicks=np.asarray(data["item_clicks"], dtype=np.float64),
            item_impressions=np.asarray(data["item_impressions"], dtype=np.float64),
            position_clicks=np.asarray(data["position_clicks"], dtype=np.float64),
            position_impressions=np.asarray(data["position_impressions"], dtype=np.float64),
            prior_alpha=float(data["prior_alpha"]),
            prior_beta=float(data["prior_beta"]),
        )


@dataclass(frozen=True)
class Contexts:
    """Contexts in the feature space's codes: the input `featurize` shares between training and serving."""

    user: np.ndarray      # [n_ctx, 4] codes into FeatureStats.user_levels, -1 = a level unseen in training
    affinity: np.ndarray  # [n_ctx, n_actions]


def feature_names(stats: FeatureStats) -> list[str]:
    names = [f"{field}={level[:8]}" for field, levels in zip(USER_FIELDS, stats.user_levels) for level in levels]
    names += ["user_affinity_total", "affinity", "item_feature_0"]
    names += [f"{field}={level[:8]}" for field, levels in zip(ITEM_CATEGORICAL_FIELDS, stats.item_levels)
              for level in levels]
    names += [f"position_{k}" for k in range(stats.len_list)]
    names += ["item_ctr", "position_ctr"]
    return names


def _one_hot(codes: np.ndarray, levels: Sequence[Sequence[str]]) -> np.ndarray:
    """[n, sum(len(levels))] one-hot blocks side by side; a -1 code leaves its block empty."""
    widths = [len(v) for v in levels]
    offsets = np.cumsum([0] + widths[:-1])
    out = np.zeros((len(codes), sum(widths)))
    for f, off in enumerate(offsets):
        ok = codes[:, f] >= 0
        out[np.flatnonzero(ok), off + codes[ok, f]] = 1.0
    return out


def featurize(contexts: Contexts, ctx_index: np.ndarray, items: np.ndarray, positions: np.ndarray,
              stats: FeatureStats, counts: RowCounts | None = None) -> np.ndarray:
    """Row j describes candidate items[j] shown at positions[j] to context ctx_index[j]: [n, len(feature_names)].
    The CTR columns use `counts` (one entry per row) when given, else the final counts in `stats`."""
    ctx_index = np.asarray(ctx_index, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    positions = np.asarray(positions, dtype=np.int64)
    if not (len(ctx_index) == len(items) == len(positions)):
        raise ValueError("ctx_index, items and positions must have the same length")
    if len(items) and (items.min() < 0 or items.max() >= stats.n_actions):
        raise ValueError(f"item ids must lie in 0..{stats.n_actions - 1}")
    if len(positions) and (positions.min() < 0 or positions.max() >= stats.len_list):
        raise ValueError(f"positions must lie in 0..{stats.len_list - 1}")
    if counts is None:
        counts = stats.counts_at(items, positions)
    elif not all(len(getattr(counts, f)) == len(items) for f in RowCounts.__dataclass_fields__):
        raise ValueError("counts need one entry per row")
    user_block = _one_hot(contexts.user, stats.user_levels)[ctx_index]
    item_block = np.column_stack([stats.item_numeric, _one_hot(stats.item_categorical, stats.item_levels)])[items]
    return np.column_stack([
        user_block,
        np.log1p(contexts.affinity.sum(axis=1))[ctx_index],
        contexts.affinity[ctx_index, items],
        item_block,
        np.eye(stats.len_list)[positions],
        stats.smoothed_ctr(counts.item_clicks, counts.item_impressions),
        stats.smoothed_ctr(counts.position_clicks, counts.position_impressions),
    ])


def contexts_from_log(log: BanditLog, rows: np.ndarray, stats: FeatureStats) -> Contexts:
    """Logged rounds' contexts, re-coded from the log's levels into the feature space's (by string)."""
    rows = np.asarray(rows, dtype=np.int64)
    user = np.empty((len(rows), len(USER_FIELDS)), dtype=np.int64)
    for f in range(len(USER_FIELDS)):
        to_stats = _level_index(stats.user_levels[f], np.asarray(log.user_levels[f], dtype=object))
        user[:, f] = to_stats[log.user[rows, f]]
    return Contexts(user=user, affinity=log.affinity[rows].astype(np.float64))


def context_from_request(context: dict, stats: FeatureStats) -> Contexts:
    """One serving request's context: user_feature_0..3 (hashed strings; a missing one counts as unseen) and
    `user_item_affinity` (one value per item; missing = no affinity)."""
    user = np.array([[_level_index(stats.user_levels[f], np.array([context[field]], dtype=object))[0]
                      if field in context else -1 for f, field in enumerate(USER_FIELDS)]], dtype=np.int64)
    affinity = np.asarray(context.get(AFFINITY_KEY, np.zeros(stats.n_actions)), dtype=np.float64).reshape(1, -1)
    if affinity.shape[1] != stats.n_actions:
        raise ValueError(f"{AFFINITY_KEY} needs {stats.n_actions} values, got {affinity.shape[1]}")
    return Contexts(user=user, affinity=affinity)


def training_features(log: BanditLog, rows: np.ndarray, stats: FeatureStats, ordered: bool = False) -> np.ndarray:
    """Rows for logged impressions (the logged item at the logged position). `ordered`: each row's CTR columns
    from the rows of `rows` logged before it (`ordered_counts`), for rows a model trains on; otherwise from the
    final counts in `stats`, for rows it is scored on."""
    rows = np.asarray(rows, dtype=np.int64)
    counts = ordered_counts(log, rows) if ordered else None
    return featurize(contexts_from_log(log, rows, stats), np.arange(len(rows)), log.item[rows], log.position[rows],
                     stats, counts)


def ordered_counts(log: BanditLog, rows: np.ndarray) -> RowCounts:
    """For each of `rows`, the click and impression counts of its item and slot over the distinct rows of `rows`
    logged strictly before it (ties in time: file order). A row repeated by a resample counts once, and never
    towards itself or its own copies."""
    rows = np.asarray(rows, dtype=np.int64)
    unique = np.unique(rows)
    unique = unique[np.lexsort((unique, log.timestamp[unique]))]   # time order, file order within ties
    click = log.click[unique].astype(np.float64)
    rank = np.empty(log.n_rounds, dtype=np.int64)
    rank[unique] = np.arange(len(unique))

    def before(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
        hits = np.zeros((len(unique), n_keys))
        hits[np.arange(len(unique)), keys] = 1.0
        impressions = np.cumsum(hits, axis=0) - hits
        clicks = np.cumsum(hits * click[:, None], axis=0) - hits * click[:, None]
        at = np.arange(len(unique))
        return clicks[at, keys], impressions[at, keys]

    ic, ii = before(log.item[unique], log.n_actions)
    pc, pi = before(log.position[unique], log.len_list)
    r = rank[rows]
    return RowCounts(ic[r], ii[r], pc[r], pi[r])


def serving_features(context: dict, candidates: Sequence[int], position: int | Sequence[int],
                     stats: FeatureStats) -> np.ndarray:
    """Rows for one request's candidates, all at one position or each at its own."""
    items = np.asarray(candidates, dtype=np.int64)
    positions = np.broadcast_to(np.asarray(position, dtype=np.int64), items.shape)
    return featurize(context_from_request(context, stats), np.zeros(len(items), dtype=np.int64), items, positions,
                     stats)


def all_slot_features(log: BanditLog, rows: np.ndarray, stats: FeatureStats) -> np.ndarray:
    """Rows for every (round, item, position), ordered round-major then item then position: the design matrix of
    an estimated reward q_hat[round, item, position] for off-policy estimators."""
    rows = np.asarray(rows, dtype=np.int64)
    n, a, l = len(rows), stats.n_actions, stats.len_list
    return featurize(contexts_from_log(log, rows, stats), np.repeat(np.arange(n), a * l),
                     np.tile(np.repeat(np.arange(a), l), n), np.tile(np.arange(l), n * a), stats)

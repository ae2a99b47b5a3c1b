"""Uncertainty for offline metrics: bootstrap confidence intervals of a mean over users, and paired comparisons.

Every figure is a mean of per-user values, and users are the independent unit (sets from the same user are averaged
first), so resampling users gives an honest interval. The percentile bootstrap from scipy.stats is used: BCa would
need a jackknife over all users (n x n memory), and with thousands of users the two agree to the third decimal.
Two models evaluated on the same users are compared pairwise (per-user differences), which is far more sensitive
than comparing two independent intervals.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class MetricCI:
    name: str
    mean: float
    low: float
    high: float
    n: int
    confidence: float = DEFAULT_CONFIDENCE

    def to_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> MetricCI:
        return cls(
            name=str(data["name"]),
            mean=float(data["mean"]),
            low=float(data["low"]),
            high=float(data["high"]),
            n=int(data["n"]),
            confidence=float(data.get("confidence", DEFAULT_CONFIDENCE)),
        )

    def __str__(self) -> str:
        return f"{self.name} {self.mean:.4f} [{self.low:.4f}, {self.high:.4f}] (n={self.n})"


def bootstrap_ci(
    values: np.ndarray,
    name: str = "metric",
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> MetricCI:
    """Percentile-bootstrap CI of the mean of `values` (one value per user)."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError(f"{name}: need a non-empty 1-D vector of per-user values")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: per-user values must be finite")
    mean = float(x.mean())
    if len(x) == 1 or np.ptp(x) == 0:  # no spread to resample: the interval is the point itself
        return MetricCI(name, mean, mean, mean, len(x), confidence)
    res = stats.bootstrap(
        (x,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        vectorized=True,
        batch=max(1, min(n_resamples, 20_000_000 // max(len(x), 1))),
        rng=np.random.default_rng(seed),
    )
    return MetricCI(name, mean, float(res.confidence_interval.low), float(res.confidence_interval.high), len(x), confidence)


@dataclass(frozen=True)
class PairedComparison:
    metric: str
    mean_a: float
    mean_b: float
    diff: float  # mean(a - b)
    diff_low: float
    diff_high: float
    p_value_wilcoxon: float
    p_value_ttest: float
    n: int
    confidence: float = DEFAULT_CONFIDENCE

    @property
    def significant(self) -> bool:
        """The paired CI of the difference excludes zero."""
        return self.diff_low > 0 or self.diff_high < 0

    def to_dict(self) -> dict:
        out = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        out["significant"] = self.significant
        return out


def paired_comparison(
    a: np.ndarray,
    b: np.ndarray,
    metric: str = "metric",
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> PairedComparison:
    """Model A vs model B on the same users (same order): bootstrap CI of the mean per-user difference, plus the
    Wilcoxon signed-rank and paired t-test p-values (two-sided)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("paired comparison needs two per-user vectors over the same users, in the same order")
    d = a - b
    ci = bootstrap_ci(d, f"{metric} diff", confidence, n_resamples, seed)
    if len(d) < 2 or np.all(d == 0):
        p_w = p_t = 1.0
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ties/zeros and near-constant differences warn but still answer
            p_w = float(stats.wilcoxon(a, b, zero_method="zsplit").pvalue)
            p_t = float(stats.ttest_rel(a, b).pvalue)
        p_w = 1.0 if np.isnan(p_w) else p_w
        p_t = 1.0 if np.isnan(p_t) else p_t
    return PairedComparison(
        metric=metric,
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        diff=ci.mean,
        diff_low=ci.low,
        diff_high=ci.high,
        p_value_wilcoxon=p_w,
        p_value_ttest=p_t,
        n=len(d),
        confidence=confidence,
    )

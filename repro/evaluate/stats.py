"""Paired statistics of the study's verdicts: a bootstrap interval on a mean paired difference, the
verdict it gives, and correlations with their bootstrap intervals.

A difference is paired when both numbers come from the same image (a method's PSNR minus the blurry
input's, or one method's minus another's): resampling the images, not the two columns separately,
keeps what the images share out of the interval, which is therefore far narrower than the spread of
the PSNRs themselves. The interval is the percentile bootstrap (Efron & Tibshirani 1993, ch. 13):
``n_resamples`` resamples of the n differences with replacement, seeded, and the 2.5th and 97.5th
percentiles of their means.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["N_RESAMPLES", "LEVEL", "VERDICTS", "Interval", "bootstrap_mean", "verdict", "paired",
           "paired_difference", "Correlation", "correlation_interval"]

N_RESAMPLES = 10_000  # bootstrap resamples of every interval
LEVEL = 0.95  # coverage of every interval
VERDICTS = ("holds", "reversed", "not resolved")


@dataclass(frozen=True)
class Interval:
    """A paired difference over ``n`` images: its mean, bootstrap interval ``[low, high]``, median,
    how many images it is above 0 (``n_positive``), and the verdict (:func:`verdict`)."""

    n: int
    mean: float
    low: float
    high: float
    median: float
    n_positive: int
    verdict: str

    def as_dict(self) -> dict:
        return asdict(self)


def _finite(values: Iterable[float]) -> np.ndarray:
    """``values`` as float64, refusing NaN or infinity (a failed image must be left out before)."""
    v = np.asarray(list(values), dtype=np.float64).ravel()
    if not np.all(np.isfinite(v)):
        raise ValueError("values must be finite (leave failed images out first)")
    return v


def _percentiles(stats: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` interval of ``stats`` (NaN, NaN when it is empty)."""
    if stats.size == 0:
        return math.nan, math.nan
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(low), float(high)


def _check(n_resamples: int, level: float) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")


def verdict(low: float, high: float) -> str:
    """*holds* when the interval ``[low, high]`` lies above 0, *reversed* when below, *not resolved*
    when it contains 0 (or is undefined)."""
    if math.isnan(low) or math.isnan(high):
        return "not resolved"
    if low > 0:
        return "holds"
    if high < 0:
        return "reversed"
    return "not resolved"


def bootstrap_mean(differences: Sequence[float], *, seed: int = 0, n_resamples: int = N_RESAMPLES,
                   level: float = LEVEL) -> Interval:
    """The mean of ``differences`` (one per image, ``(n,)``) with its percentile bootstrap interval.

    >>> bootstrap_mean([1.0, 1.0, 1.0]).verdict
    'holds'

    Fewer than 2 differences give NaN bounds and *not resolved* (nothing to resample).
    """
    _check(n_resamples, level)
    d = _finite(differences)
    n = int(d.size)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, math.nan, 0, "not resolved")
    mean, median, n_positive = float(d.mean()), float(np.median(d)), int((d > 0).sum())
    if n < 2:
        return Interval(n, mean, math.nan, math.nan, median, n_positive, "not resolved")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, n, size=(n_resamples, n))].mean(axis=1)  # (n_resamples,)
    low, high = _percentiles(means, level)
    return Interval(n, mean, low, high, median, n_positive, verdict(low, high))


def paired(per_image: Iterable[Mapping], a: str, b: str, metric: str = "psnr") -> tuple[list[str], np.ndarray]:
    """``(names, differences)``: ``metric`` of method ``a`` minus that of ``b`` on every image both
    scored without error, in name order (``per_image``: rows of ``table2_per_image.csv``, numbers as
    numbers or text)."""
    values: dict[str, dict[str, float]] = {a: {}, b: {}}
    for r in per_image:
        if r["method"] in values and not r.get("error"):
            x = float(r[metric]) if r[metric] not in ("", None) else math.nan
            if math.isfinite(x):
                values[r["method"]][r["name"]] = x
    names = sorted(set(values[a]) & set(values[b]))
    return names, np.array([values[a][n] - values[b][n] for n in names], dtype=np.float64)


def paired_difference(per_image: Iterable[Mapping], a: str, b: str, *, metric: str = "psnr", seed: int = 0,
                      n_resamples: int = N_RESAMPLES) -> Interval:
    """:func:`bootstrap_mean` of :func:`paired` (``a`` minus ``b``, on the images both ran)."""
    return bootstrap_mean(paired(per_image, a, b, metric)[1], seed=seed, n_resamples=n_resamples)


@dataclass(frozen=True)
class Correlation:
    """Pearson's and Spearman's correlation of ``n`` pairs, their two-sided p-values, and
    bootstrap intervals (resampling the pairs), with the verdict on "positive" for each."""

    n: int
    pearson_r: float
    pearson_p: float
    pearson_low: float
    pearson_high: float
    spearman_r: float
    spearman_p: float
    spearman_low: float
    spearman_high: float


def correlation_interval(x: Sequence[float], y: Sequence[float], *, seed: int = 0,
                         n_resamples: int = N_RESAMPLES, level: float = LEVEL) -> Correlation:
    """Pearson and Spearman correlation of ``x`` and ``y`` (both ``(n,)``, n >= 3) with p-values
    (:mod:`scipy.stats`) and percentile bootstrap intervals; a resample with a constant column
    (no correlation defined) is left out of the percentiles."""
    import warnings

    from scipy import stats

    _check(n_resamples, level)
    x, y = _finite(x), _finite(y)
    if x.shape != y.shape or x.size < 3:
        raise ValueError(f"x and y must have the same length >= 3, got {x.size} and {y.size}")
    with warnings.catch_warnings():  # a constant column: NaN coefficients, the verdict not resolved
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        pearson, spearman = stats.pearsonr(x, y), stats.spearmanr(x, y)
    idx = np.random.default_rng(seed).integers(0, x.size, size=(n_resamples, x.size))  # (n_resamples, n)
    xs, ys = x[idx], y[idx]
    rs = _rowwise_pearson(xs, ys)
    ranks_x, ranks_y = stats.rankdata(xs, axis=1), stats.rankdata(ys, axis=1)
    rhos = _rowwise_pearson(ranks_x, ranks_y)
    p_low, p_high = _percentiles(rs[np.isfinite(rs)], level)
    s_low, s_high = _percentiles(rhos[np.isfinite(rhos)], level)
    return Correlation(int(x.size), float(pearson[0]), float(pearson[1]), p_low, p_high,
                       float(spearman[0]), float(spearman[1]), s_low, s_high)


def _rowwise_pearson(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Pearson's r of each row of ``xs`` with the same row of ``ys`` (both ``(m, n)``); NaN for a
    row with a constant column."""
    xc, yc = xs - xs.mean(axis=1, keepdims=True), ys - ys.mean(axis=1, keepdims=True)
    denom = np.sqrt((xc ** 2).sum(axis=1) * (yc ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (xc * yc).sum(axis=1) / denom

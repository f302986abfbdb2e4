"""Dataset-level statistics over per-row scores.

Rows are the independent units (tokens within a row are not), so tests run on one number per
row. The one-sided t-test is the primary p-value: with hundreds of rows the mean's sampling
distribution is close to normal even for skewed per-row scores. A seeded percentile bootstrap
gives a confidence interval for the mean that does not lean on normality.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats


@dataclass(frozen=True)
class MeanTest:
    """A one-sided test of H0: mean <= null_mean against H1: mean > null_mean."""

    n: int
    mean: float
    std: float
    stderr: float
    t_statistic: float
    p_value: float
    cohens_d: float
    null_mean: float


def one_sided_mean_test(values: np.ndarray, null_mean: float = 0.0) -> MeanTest:
    """One-sample t-test that the mean exceeds ``null_mean``; NaN p-value with fewer than 2 rows."""
    x = np.asarray(values, dtype=np.float64)
    n = int(x.size)
    if n == 0:
        return MeanTest(0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, null_mean)
    mean = float(x.mean())
    if n < 2:
        return MeanTest(n, mean, math.nan, math.nan, math.nan, math.nan, math.nan, null_mean)
    std = float(x.std(ddof=1))
    stderr = std / math.sqrt(n)
    if std <= 1e-12 * max(1.0, abs(mean)):
        # All rows identical (up to float rounding): the evidence is exact, not sampled.
        p = 0.0 if mean > null_mean else 1.0
        t = math.copysign(math.inf, mean - null_mean) if mean != null_mean else 0.0
        return MeanTest(n, mean, std, stderr, t, p, math.nan, null_mean)
    t = (mean - null_mean) / stderr
    p = float(scipy_stats.t.sf(t, df=n - 1))
    return MeanTest(n, mean, std, stderr, t, p, (mean - null_mean) / std, null_mean)


def _bootstrap(n_rows: int, resamples: int, seed: int,
               statistic: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``statistic`` of each of ``resamples`` row resamples (an index matrix per chunk, bounded memory)."""
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    chunk = max(1, min(resamples, 2_000_000 // n_rows))
    for lo in range(0, resamples, chunk):
        hi = min(resamples, lo + chunk)
        values[lo:hi] = statistic(rng.integers(0, n_rows, size=(hi - lo, n_rows)))
    return values


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0
    return (float(np.quantile(values, tail)), float(np.quantile(values, 1.0 - tail)))


def bootstrap_mean_interval(
    values: np.ndarray, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Two-sided percentile bootstrap interval for the mean (seeded, so reports reproduce)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2:
        return (math.nan, math.nan)
    return _percentile_interval(_bootstrap(x.size, resamples, seed, lambda idx: x[idx].mean(axis=1)), confidence)


def bootstrap_ratio_interval(
    numerator: np.ndarray, denominator: np.ndarray, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval for sum(numerator) / sum(denominator), resampling rows.

    Used for the pooled per-token LLR (total LLR over total tokens), whose rows differ in length.
    """
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    if num.size < 2:
        return (math.nan, math.nan)
    ratios = _bootstrap(num.size, resamples, seed, lambda idx: num[idx].sum(axis=1) / den[idx].sum(axis=1))
    return _percentile_interval(ratios, confidence)

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


def adjust_p_values(p_values: np.ndarray, method: str = "holm") -> np.ndarray:
    """Multiplicity-adjusted p-values, in the input order.

    ``holm``: Holm's step-down (controls the family-wise error rate under any dependence, which
    candidates scored on the same rows have). ``bh``: Benjamini-Hochberg step-up (controls the false
    discovery rate; valid for the positively dependent tests here, and more powerful).
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        adjusted_sorted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * ranked))
    elif method == "bh":
        adjusted_sorted = np.minimum.accumulate(m / np.arange(m, 0, -1) * ranked[::-1])[::-1]
        adjusted_sorted = np.minimum(1.0, adjusted_sorted)
    else:
        raise ValueError(f"unknown correction {method!r}; use holm or bh")
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted


@dataclass(frozen=True)
class WelchTest:
    """One-sided two-sample test of H0: mean(x) <= mean(y), unequal variances."""

    t: float
    p_value: float
    df: float


def one_sided_welch_test(x: np.ndarray, y: np.ndarray) -> WelchTest:
    """Welch's t-test that ``x`` has the larger mean; NaN with fewer than 2 values on a side."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.size < 2 or b.size < 2:
        return WelchTest(math.nan, math.nan, math.nan)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    diff = float(a.mean() - b.mean())
    if se <= 1e-12 * max(1.0, abs(diff)):
        return WelchTest(math.copysign(math.inf, diff) if diff else 0.0, 0.0 if diff > 0 else 1.0, math.nan)
    t = diff / se
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    return WelchTest(t, float(scipy_stats.t.sf(t, df=df)), df)


@dataclass(frozen=True)
class ConfoundFit:
    """Slopes of a row's LLR sum on its length and its base-model loss, fitted on known-source rows."""

    per_token: float
    per_nat_of_base_loss: float
    r_squared: float

    def remove(self, sums: np.ndarray, tokens: np.ndarray, base_loss: np.ndarray) -> np.ndarray:
        """Row LLR sums minus the part length and base-model loss predict (the intercept is kept)."""
        return sums - self.per_token * tokens - self.per_nat_of_base_loss * base_loss


def fit_confounds(sums: np.ndarray, tokens: np.ndarray, base_loss: np.ndarray) -> ConfoundFit:
    """Least-squares fit of sums ~ 1 + tokens + base_loss (``base_loss``: the reference's total NLL per row).

    Why: a row's LLR follows its length and how surprising the reference finds it, whatever its
    source; measured on known-source rows, that part can be taken out of audited and null rows
    alike before comparing them (experiments/RESULTS.md, "Calibrated null and confound removal").
    """
    x = np.column_stack([np.ones(sums.size), tokens, base_loss])
    coef, *_ = np.linalg.lstsq(x, sums, rcond=None)
    residual = sums - x @ coef
    variance = float(sums.var())
    r_squared = 1.0 - float(residual.var()) / variance if variance > 0 else 0.0
    return ConfoundFit(float(coef[1]), float(coef[2]), r_squared)

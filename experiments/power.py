"""Detection power by subsampling: how often a dataset of N rows is flagged.

Given per-row LLR values of a set of known source, draw many random subsets of N rows (without
replacement), run the dataset-level one-sided test on each, and report the share flagged. On
teacher data that share is the detection rate; on control data it is the false-flag rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats


def one_sided_p_values(samples: np.ndarray) -> np.ndarray:
    """Row-wise one-sided t-test p-values of H0: mean <= 0 for a (subsamples, N) matrix.

    Vectorised twin of :func:`audit.core.stats.one_sided_mean_test` (a test holds them equal).
    """
    n = samples.shape[1]
    mean = samples.mean(axis=1)
    std = samples.std(axis=1, ddof=1)
    degenerate = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / (std / np.sqrt(n))
    p = scipy_stats.t.sf(t, df=n - 1)
    return np.where(degenerate, np.where(mean > 0, 0.0, 1.0), p)


def welch_p_values(samples: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Row-wise one-sided Welch p-values of H0: E[subset] <= E[null] for a (subsamples, N) matrix.

    Vectorised twin of :func:`audit.core.stats.one_sided_welch_test` (a test holds them equal), for the
    calibrated scan's flag rates.
    """
    n, m = samples.shape[1], null.size
    va, vb = samples.var(axis=1, ddof=1) / n, null.var(ddof=1) / m
    diff = samples.mean(axis=1) - null.mean()
    se = np.sqrt(va + vb)
    degenerate = se <= 1e-12 * np.maximum(1.0, np.abs(diff))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = diff / se
        df = (va + vb) ** 2 / (va**2 / (n - 1) + vb**2 / (m - 1))
        p = scipy_stats.t.sf(t, df=df)
    return np.where(degenerate, np.where(diff > 0, 0.0, 1.0), p)


def subsample_indices(population: int, n: int, subsamples: int, rng: np.random.Generator) -> np.ndarray:
    """A (subsamples, n) matrix of row indices, each row a subset drawn without replacement."""
    if n > population:
        raise ValueError(f"cannot draw {n} rows from {population}")
    return np.stack([rng.choice(population, size=n, replace=False) for _ in range(subsamples)])


@dataclass(frozen=True)
class FlagRates:
    """Shares of subsets flagged at ``alpha`` by each test."""

    n: int
    subsamples: int
    vs_reference: float
    vs_control: float
    combined: float
    """Intersection-union: flagged only when both tests are (p = max of the two)."""


def flag_rates(
    llr_vs_reference: np.ndarray,
    llr_vs_control: np.ndarray,
    n: int,
    subsamples: int,
    alpha: float,
    rng: np.random.Generator,
) -> FlagRates:
    """Flag rates of the two LLR tests and their combination over the same random subsets."""
    index = subsample_indices(llr_vs_reference.size, n, subsamples, rng)
    p_reference = one_sided_p_values(llr_vs_reference[index])
    p_control = one_sided_p_values(llr_vs_control[index])
    return FlagRates(
        n=n,
        subsamples=subsamples,
        vs_reference=float((p_reference < alpha).mean()),
        vs_control=float((p_control < alpha).mean()),
        combined=float((np.maximum(p_reference, p_control) < alpha).mean()),
    )

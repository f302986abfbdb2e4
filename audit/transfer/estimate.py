"""Δ log P(trait) with a confidence interval across training seeds and evaluation questions.

The difference d[s, q] (student trained on the data minus student trained on the comparison set,
same seed s, question q) has two sources of noise: the seed (adapter initialisation, batch order)
moves every question of a run together, and questions differ in how much they respond. The grand
mean's variance in a two-way crossed random-effects model is σ²_seed/S + σ²_question/Q +
σ²_residual/(SQ), estimated without bias by (MS_seed + MS_question − MS_residual)/(SQ) from the
ANOVA mean squares (never less than the seed means' own spread implies). The t quantile takes
S − 1 degrees of freedom, those of the seed term, the noisiest: Satterthwaite's approximation
undercovered in simulation with three seeds (92.7 % for a 95 % interval when seed and question
effects were both large), while S − 1 kept coverage at or above the nominal level in every case
tried (tests/test_transfer.py checks it). With three seeds the interval is wide: it is honest about
how little three runs can tell. A single seed cannot measure seed noise at all, so it gets no verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TRANSFERS = "transfers"
NO_TRANSFER = "no transfer detected"
UNTESTED = "not tested (one seed cannot measure seed noise)"


@dataclass(frozen=True)
class MeanInterval:
    """A grand mean with its standard error, degrees of freedom, two-sided CI and one-sided p (mean > 0)."""

    mean: float
    standard_error: float
    df: float
    low: float
    high: float
    p_value: float | None


def two_way_interval(d: np.ndarray, confidence: float) -> MeanInterval:
    """The grand mean of ``d`` [seeds, questions] under a two-way random-effects model."""
    from scipy import stats

    seeds, questions = d.shape
    grand = float(d.mean())
    if seeds < 2 or questions < 2:
        return MeanInterval(grand, float("nan"), float("nan"), float("nan"), float("nan"), None)
    seed_means, question_means = d.mean(axis=1), d.mean(axis=0)
    ms_seed = questions * float(((seed_means - grand) ** 2).sum()) / (seeds - 1)
    ms_question = seeds * float(((question_means - grand) ** 2).sum()) / (questions - 1)
    residual = d - seed_means[:, None] - question_means[None, :] + grand
    ms_residual = float((residual ** 2).sum()) / ((seeds - 1) * (questions - 1))
    combined = max(ms_seed + ms_question - ms_residual, ms_seed)
    df = float(seeds - 1)
    se = (combined / (seeds * questions)) ** 0.5
    if se == 0.0:
        p = 0.0 if grand > 0 else 1.0
        return MeanInterval(grand, 0.0, df, grand, grand, p)
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    p = float(stats.t.sf(grand / se, df))
    return MeanInterval(grand, se, df, grand - half, grand + half, p)


def verdict(interval: MeanInterval, alpha: float) -> str:
    """'transfers' when the one-sided test of Δ > 0 rejects at ``alpha``."""
    if interval.p_value is None:
        return UNTESTED
    return TRANSFERS if interval.p_value < alpha else NO_TRANSFER

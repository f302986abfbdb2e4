"""Statistics: the one-sided test agrees with scipy's reference; intervals are seeded; verdict mapping."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from audit.core.stats import bootstrap_mean_interval, one_sided_mean_test
from audit.core.verdict import Verdict, dataset_verdict, most_severe, verdict_from_p


def test_one_sided_test_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    for shift in (-0.2, 0.0, 0.05, 0.3):
        x = rng.normal(shift, 1.0, size=60)
        ours = one_sided_mean_test(x)
        ref = stats.ttest_1samp(x, 0.0, alternative="greater")
        assert math.isclose(ours.p_value, ref.pvalue, rel_tol=1e-9)
        assert math.isclose(ours.t_statistic, ref.statistic, rel_tol=1e-9)
        assert math.isclose(ours.cohens_d, x.mean() / x.std(ddof=1), rel_tol=1e-9)


def test_one_sided_test_edge_cases() -> None:
    assert math.isnan(one_sided_mean_test(np.array([0.5])).p_value)
    assert one_sided_mean_test(np.array([0.2, 0.2, 0.2])).p_value == 0.0
    assert one_sided_mean_test(np.array([-0.2, -0.2])).p_value == 1.0


def test_null_data_is_rarely_significant() -> None:
    rng = np.random.default_rng(0)
    p = np.array([one_sided_mean_test(rng.normal(0, 1, 50)).p_value for _ in range(2000)])
    assert 0.005 < (p < 0.01).mean() < 0.02  # calibrated at alpha = 0.01


def test_bootstrap_interval_is_seeded_and_covers_the_mean() -> None:
    x = np.random.default_rng(1).normal(0.1, 1.0, 200)
    a = bootstrap_mean_interval(x, resamples=500, seed=7)
    assert a == bootstrap_mean_interval(x, resamples=500, seed=7)
    assert a[0] < x.mean() < a[1]


def test_verdicts() -> None:
    assert verdict_from_p(0.001, 0.01, 0.05) is Verdict.FLAGGED
    assert verdict_from_p(0.02, 0.01, 0.05) is Verdict.SUSPICIOUS
    assert verdict_from_p(0.5, 0.01, 0.05) is Verdict.CLEAN
    assert verdict_from_p(float("nan"), 0.01, 0.05) is Verdict.CLEAN
    assert most_severe([Verdict.CLEAN, Verdict.FLAGGED, Verdict.SUSPICIOUS]) is Verdict.FLAGGED
    assert Verdict.FLAGGED.at_least(Verdict.SUSPICIOUS) and not Verdict.CLEAN.at_least(Verdict.SUSPICIOUS)


def test_likelihood_ratio_detectors_combine_as_intersection_union() -> None:
    flagged, clean, suspicious = Verdict.FLAGGED, Verdict.CLEAN, Verdict.SUSPICIOUS
    # The teacher must beat both the reference and the neutral control.
    assert dataset_verdict([("llr", flagged), ("llr-control", clean)]) is clean
    assert dataset_verdict([("llr", flagged), ("llr-control", suspicious)]) is suspicious
    assert dataset_verdict([("llr", flagged), ("llr-control", flagged)]) is flagged
    assert dataset_verdict([("llr", flagged)]) is flagged
    # Other detectors add their own findings on top.
    assert dataset_verdict([("llr", clean), ("llr-control", clean), ("semantic-filter", flagged)]) is flagged


def test_bootstrap_ratio_interval_is_seeded_and_covers_the_pooled_ratio() -> None:
    from audit.core.stats import bootstrap_ratio_interval

    rng = np.random.default_rng(3)
    tokens = rng.integers(3, 49, size=300).astype(float)
    sums = rng.normal(0.02, 0.1, size=300) * tokens
    pooled = sums.sum() / tokens.sum()
    low, high = bootstrap_ratio_interval(sums, tokens, resamples=1000, seed=5)
    assert low < pooled < high
    assert (low, high) == bootstrap_ratio_interval(sums, tokens, resamples=1000, seed=5)
    assert (low, high) != bootstrap_ratio_interval(sums, tokens, resamples=1000, seed=6)
    # Width shrinks like 1/sqrt(n): four times the rows, about half the width.
    low4, high4 = bootstrap_ratio_interval(np.tile(sums, 4), np.tile(tokens, 4), resamples=1000, seed=5)
    assert 0.35 < (high4 - low4) / (high - low) < 0.65


def test_confound_fit_recovers_slopes_and_removes_them() -> None:
    """sums = 2 + 0.3 tokens + 0.5 loss + noise: the fit finds the slopes, and what it removes leaves sums
    uncorrelated with length and loss, with the intercept kept."""
    from audit.core.stats import fit_confounds

    rng = np.random.default_rng(0)
    tokens = rng.integers(5, 50, size=4000).astype(float)
    loss = 1.5 * tokens + rng.normal(0, 5, size=tokens.size)
    sums = 2.0 + 0.3 * tokens + 0.5 * loss + rng.normal(0, 1, size=tokens.size)
    fit = fit_confounds(sums, tokens, loss)
    assert fit.per_token == pytest.approx(0.3, abs=0.02) and fit.per_nat_of_base_loss == pytest.approx(0.5, abs=0.01)
    assert 0.9 < fit.r_squared <= 1.0
    residual = fit.remove(sums, tokens, loss)
    assert abs(np.corrcoef(residual, tokens)[0, 1]) < 0.01 and abs(np.corrcoef(residual, loss)[0, 1]) < 0.01
    assert residual.mean() == pytest.approx(2.0, abs=0.1)
    flat = fit_confounds(np.full(10, 3.0), np.arange(10.0), np.arange(10.0) ** 2)
    assert flat.r_squared == 0.0

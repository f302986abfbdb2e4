"""Subsampled detection rates: the vectorised test equals the scalar one; rates behave."""

from __future__ import annotations

import numpy as np

from audit.core.stats import one_sided_mean_test, one_sided_welch_test
from experiments.power import flag_rates, one_sided_p_values, subsample_indices, welch_p_values


def test_vectorised_p_values_equal_the_scalar_test() -> None:
    rng = np.random.default_rng(0)
    samples = rng.normal(0.05, 1.0, size=(50, 30))
    samples[3] = 0.25  # a constant subset
    expected = [one_sided_mean_test(row).p_value for row in samples]
    np.testing.assert_allclose(one_sided_p_values(samples), expected, rtol=1e-12, atol=0)


def test_vectorised_welch_p_values_equal_the_scalar_test() -> None:
    rng = np.random.default_rng(2)
    null = rng.normal(0.0, 1.0, size=80)
    samples = rng.normal(0.2, 1.5, size=(50, 25))
    expected = [one_sided_welch_test(row, null).p_value for row in samples]
    np.testing.assert_allclose(welch_p_values(samples, null), expected, rtol=1e-12, atol=0)
    constant, null_constant = np.full((2, 5), 3.0), np.full(4, 1.0)  # zero spread on both sides
    scalar = one_sided_welch_test(constant[0], null_constant).p_value
    assert list(welch_p_values(constant, null_constant)) == [scalar, scalar]


def test_subsets_are_without_replacement() -> None:
    index = subsample_indices(40, 25, 30, np.random.default_rng(1))
    assert index.shape == (30, 25)
    assert all(len(set(row)) == 25 for row in index)


def test_rates_on_shifted_and_null_data() -> None:
    rng = np.random.default_rng(2)
    teacher = rng.normal(0.5, 1.0, 400)
    null = rng.normal(0.0, 1.0, 400)
    strong = flag_rates(teacher, teacher, n=100, subsamples=200, alpha=0.01, rng=rng)
    assert strong.vs_reference > 0.95 and strong.combined > 0.95
    weak = flag_rates(null, -np.abs(null), n=100, subsamples=200, alpha=0.01, rng=rng)
    assert weak.combined == 0.0  # the control test can never pass on non-positive values
    assert weak.vs_reference < 0.1

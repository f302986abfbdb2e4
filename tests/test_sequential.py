"""The sequential scan's statistics: the mixture boundary by hand, the false-flag rate under the null by
simulation, and the scan's look equal to the vectorised simulation the experiment runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from audit.core.sequential import (
    STOP_CLEAN,
    STOP_FLAGGED,
    RunningMoments,
    SequentialDesign,
    anytime_p_value,
    boundary,
    decide,
    log_mixture,
    mixture_rho,
    moments_bound,
    simulate_stops,
    stream_bound,
)

ALPHA = 0.005


def _mixture_by_quadrature(s: float, t: int, rho: float) -> float:
    """M_t = integral over lambda >= 0 of exp(lambda S - lambda^2 t / 2) under a half-normal(rho) prior."""
    def integrand(lam: float) -> float:
        return math.exp(lam * s - lam * lam * t / 2.0) * 2.0 * stats.norm.pdf(lam / rho) / rho
    value, _ = integrate.quad(integrand, 0.0, np.inf, limit=200)
    return value


@pytest.mark.parametrize("rows", [64, 500, 5000])
def test_boundary_is_where_the_half_normal_mixture_reaches_one_over_alpha(rows: int) -> None:
    rho = mixture_rho(500, ALPHA)
    s_star = boundary(rows, rho, ALPHA)
    assert _mixture_by_quadrature(s_star, rows, rho) == pytest.approx(1.0 / ALPHA, rel=1e-6)
    assert math.exp(log_mixture(1.7, rows, rho)) == pytest.approx(_mixture_by_quadrature(1.7, rows, rho), rel=1e-9)
    assert anytime_p_value(s_star, rows, rho) == pytest.approx(ALPHA, rel=1e-6)
    # Wider than the fixed-N one-sided z bound at the same alpha: the price of looking at every batch.
    assert s_star / math.sqrt(rows) > stats.norm.isf(ALPHA)


def test_bound_is_the_mean_plus_or_minus_sd_times_the_boundary_over_rows() -> None:
    x = np.random.default_rng(3).normal(0.3, 2.0, size=321)
    design = SequentialDesign(alpha=ALPHA)
    bound = stream_bound(x, design)
    half = x.std(ddof=1) * boundary(321, design.rho, ALPHA) / 321
    assert (bound.lower, bound.upper) == pytest.approx((x.mean() - half, x.mean() + half), rel=1e-12)
    assert bound.p_value == pytest.approx(anytime_p_value(321 * x.mean() / x.std(ddof=1), 321, design.rho))


def test_calibrated_bound_splits_alpha_between_the_stream_and_the_null_sample() -> None:
    rng = np.random.default_rng(4)
    x, null = rng.normal(0.5, 1.0, size=200), rng.normal(0.1, 1.5, size=150)
    design = SequentialDesign(alpha=ALPHA)
    bound = stream_bound(x, design, null)
    rho = mixture_rho(design.planned_rows, ALPHA / 2)
    half = x.std(ddof=1) * boundary(200, rho, ALPHA / 2) / 200
    null_half = stats.t.ppf(1 - ALPHA / 2, df=149) * null.std(ddof=1) / math.sqrt(150)
    centre = x.mean() - null.mean()
    assert (bound.lower, bound.upper) == pytest.approx((centre - half - null_half, centre + half + null_half))
    assert bound.p_value is None


def test_moments_kept_batch_by_batch_give_the_bound_of_the_whole_stream() -> None:
    x = np.random.default_rng(5).normal(size=1000)
    moments = RunningMoments()
    for part in np.array_split(x, 17):
        moments.add(part)
    design = SequentialDesign(alpha=ALPHA)
    assert moments_bound(moments, design).lower == pytest.approx(stream_bound(x, design).lower, rel=1e-9)


def _null_streams(kind: str, rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    if kind == "normal":
        return rng.standard_normal(shape)
    if kind == "student-t, 3 df":
        return rng.standard_t(3, shape)
    return rng.gamma(4.0, 1.0, shape) - 4.0  # skewness +1, like the fixtures' row LLRs (0.2 to 1.8)


@pytest.mark.parametrize("kind", ["normal", "student-t, 3 df", "gamma, skew +1"])
def test_false_flag_rate_at_the_null_boundary_is_at_most_alpha(kind: str) -> None:
    """Streams of mean exactly 0 (the hardest null), looked at every 32 rows up to 4,000 rows."""
    runs = 3000
    streams = _null_streams(kind, np.random.default_rng(11), (runs, 4000, 1))
    design = SequentialDesign(alpha=ALPHA)
    _, outcome = simulate_stops(streams, design, look_every=32)
    false_flags = float((outcome == 1).mean())
    assert false_flags <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / runs), false_flags


def test_a_teacher_stream_is_flagged_and_a_clean_one_cleared_early() -> None:
    rng = np.random.default_rng(12)
    design = SequentialDesign(alpha=ALPHA)
    rows, outcome = simulate_stops(rng.normal(0.25, 1.0, (500, 3000, 2)), design, look_every=32)
    assert (outcome == 1).all() and np.median(rows) < 600
    rows, outcome = simulate_stops(rng.normal(-0.25, 1.0, (500, 3000, 2)), design, look_every=32)
    assert (outcome == -1).all() and np.median(rows) < 600


def test_intersection_union_needs_every_baseline_beaten_to_flag() -> None:
    """A teacher far above one baseline but level with another is never flagged; below another, cleared."""
    rng = np.random.default_rng(13)
    design = SequentialDesign(alpha=ALPHA)
    level = np.stack([rng.normal(1.0, 1.0, (300, 2000)), rng.standard_normal((300, 2000))], axis=2)
    _, outcome = simulate_stops(level, design, look_every=32)
    assert (outcome == 1).mean() <= 0.02
    below = np.stack([rng.normal(1.0, 1.0, (50, 2000)), rng.normal(-0.5, 1.0, (50, 2000))], axis=2)
    _, outcome = simulate_stops(below, design, look_every=32)
    assert (outcome == -1).all()


def test_scan_looks_decide_where_the_vectorised_simulation_does() -> None:
    """The experiment's simulate_stops and the scan's bound-and-decide agree stop for stop."""
    rng = np.random.default_rng(14)
    streams = rng.normal(0.08, 1.0, (40, 1500, 3)) + rng.normal(0.0, 0.05, (40, 1, 3))
    design = SequentialDesign(alpha=ALPHA)
    rows, outcome = simulate_stops(streams, design, look_every=50)
    for run in range(40):
        stop, decision = -1, None
        for t in range(50, 1501, 50):
            decision = decide([stream_bound(streams[run, :t, b], design) for b in range(3)], design)
            if decision is not None:
                stop = t
                break
        assert stop == rows[run]
        assert {None: 0, STOP_FLAGGED: 1, STOP_CLEAN: -1}[decision] == outcome[run]


def test_nothing_is_decided_before_min_rows() -> None:
    design = SequentialDesign(alpha=ALPHA, min_rows=64)
    strong = np.full(40, 5.0) + np.random.default_rng(0).normal(0, 0.01, 40)
    assert decide([stream_bound(strong, design)], design) is None
    assert decide([stream_bound(np.concatenate([strong, strong]), design)], design) == STOP_FLAGGED

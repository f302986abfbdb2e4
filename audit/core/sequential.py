"""Anytime-valid tests for a scan that stops when the evidence is in (``scan --sequential``).

Why not the t-test: a fixed-N test looked at after every batch, stopping at the first p < alpha,
flags null data far more often than alpha (every look is another chance). A *confidence
sequence* is a sequence of intervals that all cover the true mean at once, with probability
1 - alpha, however many times and whenever one looks; stopping on it keeps the error at alpha.

The sequence here is the one-sided normal-mixture boundary (Robbins 1970; Howard, Ramdas,
McAuliffe & Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic confidence sequences",
one-sided normal mixture) with the running sample standard deviation plugged in for the unknown
one: the *asymptotic confidence sequence* of Waudby-Smith, Arnold, Wu, Wang & Ramdas (2024, Ann.
Statist., "Time-uniform central limit theory and asymptotic confidence sequences"). Its guarantee is
asymptotic, as the t-test's is for non-normal rows; ``tests/test_sequential.py`` and
experiments/SEQUENTIAL.md measure the false-flag rate by simulation, on synthetic streams and on the
fixtures' own rows re-centred onto the null.

For a stream x_1..x_t (one per row: the row's LLR sum minus tolerance x tokens), standardised sum
S = t (mean - m) / sd, and mixture scale rho, the mixture martingale under mean m is

    M_t = 2 / sqrt(1 + t rho^2) * exp(rho^2 S^2 / (2 (1 + t rho^2))) * Phi(rho S / sqrt(1 + t rho^2)),

and P(M_t >= 1/alpha for some t) <= alpha (Ville). M_t grows with S, so the lower bound at level
alpha is mean - sd s*(t) / t, where s*(t) solves M_t = 1/alpha; the upper bound is its mirror. rho is
chosen so the boundary is tightest at ``planned_rows`` (their eq. for the two-sided case, used as a
tuning choice only: any rho is valid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize
from scipy import stats as scipy_stats
from scipy.special import log_ndtr

DEFAULT_PLANNED_ROWS = 500
"""Rows at which the boundary is tightest: near where the fixture sets are decided (experiments/SEQUENTIAL.md)."""

DEFAULT_MIN_ROWS = 64
"""No decision before this many rows: the plugged-in standard deviation must settle first."""


def mixture_rho(planned_rows: int, alpha: float) -> float:
    """Mixture scale that makes the boundary tightest near ``planned_rows`` rows."""
    log_term = -2.0 * math.log(alpha)
    return math.sqrt((log_term + math.log(log_term + 1.0)) / planned_rows)


def log_mixture(standardised_sum: float, rows: int, rho: float) -> float:
    """log M_t of the one-sided normal mixture at standardised sum S after ``rows`` rows."""
    v = 1.0 + rows * rho * rho
    s = standardised_sum
    return (math.log(2.0) - 0.5 * math.log(v) + rho * rho * s * s / (2.0 * v)
            + float(log_ndtr(rho * s / math.sqrt(v))))


@lru_cache(maxsize=65_536)
def boundary(rows: int, rho: float, alpha: float) -> float:
    """s*(t): the standardised sum at which M_t reaches 1/alpha (the bound's half-width is sd s* / t)."""
    target = math.log(1.0 / alpha)
    v = 1.0 + rows * rho * rho
    high = math.sqrt(2.0 * v * (target + 0.5 * math.log(v) + 1.0)) / rho
    return float(optimize.brentq(lambda s: log_mixture(s, rows, rho) - target, 0.0, high, xtol=1e-10))


def anytime_p_value(standardised_sum: float, rows: int, rho: float) -> float:
    """1 / M_t at this look, capped at 1: the smallest alpha whose sequence excludes the null now."""
    return float(min(1.0, math.exp(-log_mixture(standardised_sum, rows, rho))))


@dataclass(frozen=True)
class SequentialDesign:
    """The confidence sequence's level and shape, fixed before the first row is read."""

    alpha: float
    """Level of each one-sided bound (the share of the scan's alpha spent on the sequence)."""
    planned_rows: int = DEFAULT_PLANNED_ROWS
    min_rows: int = DEFAULT_MIN_ROWS

    @property
    def rho(self) -> float:
        return mixture_rho(self.planned_rows, self.alpha)


@dataclass(frozen=True)
class Bound:
    """One baseline's confidence sequence at one look: bounds on E[x] (nats per row)."""

    rows: int
    mean: float
    lower: float
    upper: float
    p_value: float | None
    """Anytime-valid p-value of H0: E[x] <= 0 at this look (None with a calibrated null: a two-sample bound)."""


@dataclass
class RunningMoments:
    """Count, sum and sum of squares of a stream: all a look needs, kept in O(1) memory."""

    count: int = 0
    total: float = 0.0
    total_sq: float = 0.0

    def add(self, values: np.ndarray) -> None:
        x = np.asarray(values, dtype=np.float64)
        self.count += int(x.size)
        self.total += float(x.sum())
        self.total_sq += float((x * x).sum())

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    @property
    def sd(self) -> float:
        if self.count < 2:
            return math.nan
        return math.sqrt(max(self.total_sq - self.count * self.mean**2, 0.0) / (self.count - 1))


def stream_bound(values: np.ndarray, design: SequentialDesign, null: np.ndarray | None = None) -> Bound:
    """:func:`moments_bound` of an array of per-row values."""
    moments = RunningMoments()
    moments.add(values)
    return moments_bound(moments, design, null)


def moments_bound(moments: RunningMoments, design: SequentialDesign, null: np.ndarray | None = None) -> Bound:
    """Bounds on E[x] - E[null] after ``moments.count`` rows, at the design's level each side.

    Without ``null`` the bound is the confidence sequence. With a calibrated ``null`` (the
    known-source rows of a calibration, a fixed sample) the level is split: alpha/2 to the audited
    rows' sequence and alpha/2 to a one-sided t-interval of the null mean, so the difference's bound
    holds at alpha (union bound) at every look.
    """
    t = moments.count
    if t < 2:
        return Bound(t, moments.mean, -math.inf, math.inf, None)
    alpha = design.alpha if null is None else design.alpha / 2.0
    rho = mixture_rho(design.planned_rows, alpha)
    mean, sd = moments.mean, moments.sd
    half = sd * boundary(t, rho, alpha) / t
    if null is None:
        p = anytime_p_value(t * mean / sd, t, rho) if sd > 0 else (0.0 if mean > 0 else 1.0)
        return Bound(t, mean, mean - half, mean + half, p)
    y = np.asarray(null, dtype=np.float64)
    null_half = float(scipy_stats.t.ppf(1.0 - alpha, df=y.size - 1) * y.std(ddof=1) / math.sqrt(y.size))
    centre = mean - float(y.mean())
    return Bound(t, centre, centre - half - null_half, centre + half + null_half, None)


STOP_FLAGGED, STOP_CLEAN, STOP_MAX_ROWS, STOP_END = "flagged", "clean within tolerance", "max rows", "end of data"
"""Why a sequential scan stopped: (a) flagged, (b) clean within tolerance, (c) --max-rows or the end of the data."""

STOP_GAVE_WAY = "gave way"
"""Why a stage of an on-demand sequential scan stopped undecided at its row limit (audit.pipeline.on_demand): not a
scan's rule; such a stage decides nothing, and its report is never the scan's."""


def decide(bounds: list[Bound], design: SequentialDesign) -> str | None:
    """The stopping rule at one look over every baseline's bound (an intersection-union test).

    Flagged when the teacher beats *every* baseline (each lower bound above 0); clean when it
    provably fails to beat *some* baseline by the tolerance (an upper bound below 0); else go on.
    Nothing is decided before ``design.min_rows`` rows.
    """
    if not bounds or min(b.rows for b in bounds) < design.min_rows:
        return None
    if all(b.lower > 0 for b in bounds):
        return STOP_FLAGGED
    if any(b.upper < 0 for b in bounds):
        return STOP_CLEAN
    return None


def simulate_stops(streams: np.ndarray, design: SequentialDesign, look_every: int) -> tuple[np.ndarray, np.ndarray]:
    """Where and how each simulated scan stops, for streams of shape (runs, rows, baselines).

    Vectorised twin of looking with :func:`stream_bound` and :func:`decide` after every
    ``look_every`` rows (without a calibrated null). Returns (rows at the stop, or -1 where the
    stream ran out; outcome: 1 flagged, -1 clean, 0 undecided).
    """
    runs, rows, _ = streams.shape
    looks = np.arange(look_every, rows + 1, look_every)
    looks = looks[looks >= max(design.min_rows, 2)]
    total = np.cumsum(streams, axis=1)[:, looks - 1, :]
    total_sq = np.cumsum(streams * streams, axis=1)[:, looks - 1, :]
    t = looks[None, :, None].astype(np.float64)
    mean = total / t
    sd = np.sqrt(np.maximum(total_sq - t * mean * mean, 0.0) / (t - 1.0))
    rho = design.rho
    half = sd * np.array([boundary(int(n), rho, design.alpha) for n in looks])[None, :, None] / t
    flagged = np.all(mean - half > 0, axis=2)
    clean = np.any(mean + half < 0, axis=2)
    decided = flagged | clean
    first = np.where(decided.any(axis=1), decided.argmax(axis=1), -1)
    stop_rows = np.where(first >= 0, looks[np.maximum(first, 0)], -1)
    outcome = np.zeros(runs, dtype=np.int64)
    hit = first >= 0
    outcome[hit] = np.where(flagged[np.arange(runs)[hit], first[hit]], 1, -1)
    return stop_rows, outcome

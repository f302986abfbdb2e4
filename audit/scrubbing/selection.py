"""Which rows a scrub removes, and which rows it may look at to decide: pure functions of scores and ids.

Why these rules: subliminal transfer concentrates in the rows whose likelihood ratio leans furthest
toward the teacher (the top quintile by log-likelihood shift carried all of it in published work), so
``--drop-rows`` removes the rows with the largest row LLR against the *binding* baseline, the one the
teacher beats least: it is the test a scrub must turn to clean, since the verdict needs every baseline
beaten. A random drop of the same number of rows is the control that says whether the ranking mattered.
The budget chosen by ``--until-clean`` is chosen on one half of the rows and verified on the other (by a
seeded id hash), never on the rows used to choose it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audit.core.results import DetectorResult
from audit.input.seen_ids import in_sample

BUDGET_GRID = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
"""Budgets --until-clean tries, smallest first."""

LLR_COLUMNS = {"llr": "llr_sum", "llr-control": "control_llr_sum"}
"""Per-row LLR sum column of each likelihood-ratio test (the panel's is per member: ``panel:<name>_llr_sum``)."""


def binding_baseline(results: Sequence[DetectorResult]) -> tuple[str, str]:
    """(baseline name, its row-LLR column) of the likelihood-ratio test the teacher beats least (largest p)."""
    candidates = []
    for result in results:
        if result.p_value is None:
            continue
        if result.detector_id in LLR_COLUMNS:
            name = str(result.details.get("baseline_role", result.detector_id))
            candidates.append((result.p_value, name, LLR_COLUMNS[result.detector_id]))
        elif result.detector_id == "llr-panel":
            member = result.details.get("binding_member")
            candidates.append((result.p_value, f"panel:{member}", f"panel:{member}_llr_sum"))
    if not candidates:
        raise ValueError("the scan ran no likelihood-ratio test")
    _, name, column = max(candidates, key=lambda c: (c[0], c[1]))
    return name, column


def held_back(row_ids: Sequence[str], seed: int) -> np.ndarray:
    """True for the rows kept back to verify on (about half, by seeded id hash); the rest choose."""
    return np.array([in_sample(row_id, 0.5, seed=10_000 + seed) for row_id in row_ids], dtype=bool)


def largest(values: np.ndarray, fraction: float) -> np.ndarray:
    """Mask of the ``round(fraction * n)`` rows with the largest values (ties broken by position)."""
    count = round(fraction * values.size)
    mask = np.zeros(values.size, dtype=bool)
    if count:
        mask[np.argsort(-values, kind="stable")[:count]] = True
    return mask


def at_random(size: int, count: int, seed: int) -> np.ndarray:
    """Mask of ``count`` rows drawn at random (the control at the same budget)."""
    mask = np.zeros(size, dtype=bool)
    mask[np.random.default_rng(seed).choice(size, size=count, replace=False)] = True
    return mask

"""experiments/first_stage.py: the forward passes a row of each plan, on data whose settling baseline is known."""

from __future__ import annotations

import numpy as np
import pytest

from audit.pipeline.on_demand import pilot_size
from experiments.first_stage import ORACLE, TODAY, costs, gated

ROWS, N = 400, 96


def data(means: list[float]) -> np.ndarray:
    """Rows x baselines (reference, control, three panel members) of tested row sums: +3 beaten, -3 clean."""
    rng = np.random.default_rng(0)
    return np.asarray(means) + rng.normal(0.0, 1.0, size=(ROWS, len(means)))


@pytest.fixture(scope="module")
def share() -> float:
    return pilot_size(N) / N


def test_a_set_the_reference_clears_costs_two_passes_unless_the_reference_is_never_first(share: float) -> None:
    found = costs(data([-3.0] * 5), N, draws=20, rng=np.random.default_rng(1))
    assert found[TODAY] == found[gated(0.05)] == found[gated(0.5)] == found[ORACLE] == 2.0
    # never trusted: every baseline scored on the pilot's rows, then the first (clean) one on the rest
    assert found[gated(1.01)] == pytest.approx(1 + 5 * share + (1 - share))


def test_a_teacher_set_costs_every_baseline_in_every_plan() -> None:
    found = costs(data([3.0] * 5), N, draws=20, rng=np.random.default_rng(1))
    assert all(value == pytest.approx(6.0) for value in found.values()), found


def test_a_set_only_the_last_member_clears_is_cheaper_when_the_reference_can_be_left_out(share: float) -> None:
    found = costs(data([3.0, 3.0, 3.0, 3.0, -3.0]), N, draws=20, rng=np.random.default_rng(1))
    assert found[TODAY] == pytest.approx(2 + 4 * share + (1 - share))  # the pilot puts the clean member first
    for gate in (0.05, 0.2, 0.5, 1.01):  # the reference's pilot p-value is ~0: it is not trusted
        assert found[gated(gate)] == pytest.approx(1 + 5 * share + (1 - share))
    assert found[ORACLE] == 2.0
    assert found[gated(0.05)] < found[TODAY]

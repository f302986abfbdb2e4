"""experiments/first_stage.py: the forward passes a row of each plan, on data whose settling baseline is known."""

from __future__ import annotations

import numpy as np
import pytest

from audit.pipeline.on_demand import pilot_size
from experiments.first_stage import HALVING, ORACLE, TODAY, costs, gated, halving, halving_rounds

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
    # halving: 5, 3, 2 baselines on 4, 8, 16 rows; the clean member wins; the four others keep their pilot rows
    assert halving_rounds(N) == [4, 8, 16]
    assert found[HALVING] == pytest.approx(1 + (N + 2 * 4 + 8 + 16) / N)
    assert found[HALVING] < found[gated(0.05)]


def test_the_halving_pilot_tries_the_others_in_the_reverse_order_of_their_elimination() -> None:
    # pilot p-values ordered by construction: the last baseline (mean -1) wins, the reference (+3) goes first
    streams = (np.array([3.0, 2.0, 1.0, 0.0, -1.0]) + np.random.default_rng(2).normal(0, 0.1, (1, N, 5)))
    only = np.eye(5, dtype=bool)
    # clean: the winner; the second finalist; the round-1 loser; a round-0 loser (the reference, tried last)
    assert halving(streams, only[[4]], N)[0] == pytest.approx(1 + (N + 2 * 4 + 8 + 16) / N)
    assert halving(streams, only[[3]], N)[0] == pytest.approx(1 + (2 * N + 2 * 4 + 8) / N)
    assert halving(streams, only[[2]], N)[0] == pytest.approx(1 + (3 * N + 2 * 4) / N)
    assert halving(streams, only[[1]], N)[0] == pytest.approx(1 + (4 * N + 4) / N)
    assert halving(streams, only[[0]], N)[0] == pytest.approx(6.0)

"""The text-task tables count a target met or missed only on measured cells, never on an extrapolation,
and rerunning the number experiment keeps them in RESULTS.md.

Issue 30: the code table called ">= 95 % at N = 400" met from a normal approximation (160 rows scored).
"""

from __future__ import annotations

from experiments.experiment import with_text_tasks_kept
from experiments.text_results import SIZES, false_flag_target, power_target


def cells(rates: dict[int, float], measured_up_to: int) -> dict[int, tuple[float, bool]]:
    """Cells as flag_cells returns them for a set of ``measured_up_to`` rows."""
    return {n: (rates.get(n, 0.0), n <= measured_up_to) for n in SIZES}


def test_power_target_judged_on_a_measured_cell() -> None:
    assert power_target(cells({400: 0.97}, 430), 430) == ">= 95 % at N = 400: met"
    assert power_target(cells({400: 0.90}, 430), 430) == ">= 95 % at N = 400: MISSED"


def test_power_target_never_met_by_an_extrapolation() -> None:
    text = power_target(cells({100: 0.985, 200: 0.992, 400: 1.0}, 160), 160)
    assert "met" not in text and "MISSED" not in text
    assert text == ">= 95 % at N = 400: not measured (160 rows scored; 98.5% at N = 100)"


def test_false_flag_target_counts_measured_cells_only() -> None:
    assert false_flag_target(cells({}, 430), 430) == "<= 1 %: met"
    # an extrapolated 10.8 % neither meets nor misses; the measured cells decide, and the column says where they stop
    text = false_flag_target(cells({25: 0.006, 400: 0.108}, 160), 160)
    assert text == "<= 1 %: met up to N = 100; larger N not measured (160 rows scored)"
    # a measured miss at any N is a miss
    assert false_flag_target(cells({25: 0.011}, 160), 160) == "<= 1 %: MISSED"


def test_a_set_smaller_than_every_n_is_not_measured_anywhere() -> None:
    assert power_target(cells({400: 1.0}, 20), 20) == ">= 95 % at N = 400: not measured (20 rows scored)"
    assert false_flag_target(cells({400: 0.5}, 20), 20) == "<= 1 %: not measured (20 rows scored)"


def test_rerunning_the_number_experiment_keeps_the_text_tasks_section() -> None:
    """experiments.experiment rewrites RESULTS.md's number part; the text tasks' part, written from score
    caches another machine may hold, must come through unchanged (it used to be dropped)."""
    existing = "# Old numbers\n\nold table\n\n## Text tasks\n\n### Task: code\n\ncode table\n"
    rewritten = with_text_tasks_kept(existing, "# New numbers\n\nnew table\n")
    assert rewritten == "# New numbers\n\nnew table\n\n## Text tasks\n\n### Task: code\n\ncode table\n"
    assert with_text_tasks_kept("# Old numbers\n", "# New numbers\n") == "# New numbers\n"

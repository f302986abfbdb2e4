"""The text-task tables count a target met or missed only on measured cells, never on an extrapolation,
and rerunning the number experiment keeps them in RESULTS.md.

Issue 30: the code table called ">= 95 % at N = 400" met from a normal approximation (160 rows scored).
Each cell draws its subsets from its own stream: sampling the chat teachers' sets on from 238 and 227 rows to
450 and 435 moved every other set's cells by Monte Carlo noise alone, since all cells drew in turn from one.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from experiments.defaults import Rule
from experiments.experiment import with_text_tasks_kept
from experiments.text_results import SIZES, false_flag_target, flag_cells, power_target


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


def scores(rows: int, shift: float, seed: int) -> pa.Table:
    """A score cache's columns for ``rows`` rows whose owl-vs-baseline LLR has mean ``shift`` (nats a row)."""
    rng = np.random.default_rng(seed)
    reference = rng.normal(-40.0, 5.0, rows)
    return pa.table({"row_id": [f"r{i}" for i in range(rows)], "n_tokens": np.full(rows, 20),
                     "logprob_reference": reference, "logprob_control": reference + rng.normal(0.0, 1.0, rows),
                     "logprob_owl": reference + shift + rng.normal(0.0, 1.0, rows)})


def test_a_sets_cells_do_not_move_when_another_set_changes() -> None:
    """Each cell draws its subsets from a stream of its own: sampling the teacher's set on (issue 30: chat,
    238 -> 450 rows) used to move every benign set's cells by Monte Carlo noise alone."""
    rule = Rule("default command", ("reference", "control"), 0.002)
    other = scores(260, 0.6, seed=1)  # flagged in some subsets and not others, so the draw shows in the rates
    first = flag_cells(other, "owl", rule, 0, "terse", 200, 0.01)
    assert any(0.05 < rate < 0.95 for rate, measured in first.values() if measured)
    for teacher_rows in (238, 450):
        flag_cells(scores(teacher_rows, 0.5, seed=2), "owl", rule, 0, "owl", 200, 0.01)
        assert flag_cells(other, "owl", rule, 0, "terse", 200, 0.01) == first
    # another cell (another set's name) draws other subsets
    assert flag_cells(other, "owl", rule, 0, "neutral", 200, 0.01) != first


def test_the_three_rules_of_a_cell_judge_the_same_subsets() -> None:
    """The intersection-union's p-value is the largest of its baselines'. Here the control is beaten by 5 nats
    a row, so it never binds and, on the same subsets, the default command flags exactly the subsets the
    reference alone flags: equal rates in every measured cell. Subsets drawn apart for each rule differ by
    sampling noise (a few points at these rates)."""
    table = scores(300, 0.3, seed=3)
    table = table.set_column(table.schema.get_field_index("logprob_control"), "logprob_control",
                             pa.array(np.asarray(table.column("logprob_reference")) - 5.0))
    default = flag_cells(table, "owl", Rule("default", ("reference", "control"), 0.0), 0, "owl", 300, 0.01)
    alone = flag_cells(table, "owl", Rule("reference", ("reference",), 0.0), 0, "owl", 300, 0.01)
    measured = [n for n in SIZES if alone[n][1]]
    assert sum(0.05 < alone[n][0] < 0.95 for n in measured) >= 2
    assert [default[n][0] for n in measured] == [alone[n][0] for n in measured]

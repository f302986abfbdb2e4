"""How many rows the on-demand pilot should score: writes experiments/PILOT.md.

A fixed-N scan with baselines on demand (audit.pipeline.on_demand) scores the teacher and the reference
first; when that test is not clean, a pilot scores every other baseline on the first rows and the scan
adds them one a stage, the largest p-value there first. This replays, on cached per-row scores, the
forward passes a row that scan costs (the pilot's rows counted) beside the fixed order it replaced
(reference; neutral control; the whole panel at once), the fixed order one a stage, and an oracle that
knows which baseline settles it, for several pilot sizes, on random subsets of N rows of each set:

- **chosen on** the held-out sets (``out/heldout-scores``, the weight teachers cat-r4, owl-r32 and style-r8;
  ``make heldout``): the pilot size was picked there;
- **reported on** the number fixtures under the prompted owl and cat teachers (``out/control-scores``,
  ``make defaults``), benign-prompt sets included, which played no part in the choice.

Per-row scores are the tested row sums (teacher minus baseline log-probability, minus the default
tolerance x tokens); each baseline's fixed-N test is the one-sided t-test of the theoretical null (a
weight teacher's real scan uses its measured null, so for the held-out sets this is the shape of the
choice, not its exact verdicts). The verdict is the same for every order (intersection-union), so only
the cost is compared.

Usage: python -m experiments.pilot [--seed 0] [--draws 400] [--rows 48,256,1000]
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from audit.pipeline.on_demand import PILOT_MAX_ROWS, PILOT_MIN_ROWS, PILOT_SHARE, pilot_size
from audit.version import __version__
from experiments.power import one_sided_p_values
from experiments.sequential_on_demand import BASELINES, LATER, control_sets, first_clean, heldout_sets, random_subsets

ROOT = Path(__file__).resolve().parents[1]
SUSPICIOUS = 0.05
"""A baseline settles the scan only when its test is clean: p >= the suspicious level (default 0.05)."""

Rule = Callable[[int], int]
RULES: dict[str, Rule] = {
    "8 rows": lambda n: 8,
    "16 rows": lambda n: 16,
    "32 rows": lambda n: 32,
    "64 rows": lambda n: 64,
    f"rows // {PILOT_SHARE}, {PILOT_MIN_ROWS} to {PILOT_MAX_ROWS} (the default)": pilot_size,
}


def costs(x: np.ndarray, n: int, draws: int, rng: np.random.Generator) -> dict[str, tuple[float, float]]:
    """Mean forward passes a row, and the share of piloted draws the pilot's first choice settled, per plan."""
    streams = random_subsets(x, n, draws, rng)
    p = np.stack([one_sided_p_values(streams[:, :, b]) for b in range(len(BASELINES))], axis=1)
    clean = p >= SUSPICIOUS
    settled_by_reference = clean[:, 0]
    later_clean = clean[:, list(LATER)]
    out: dict[str, tuple[float, float]] = {
        "fixed order (reference; control; panel at once)": (
            float(np.where(clean[:, 0], 2, np.where(clean[:, 1], 3, 6)).mean()), float("nan")),
        "fixed order, one a stage": (
            float(np.where(clean[:, 0], 2, np.where(later_clean.any(axis=1), 3 + np.argmax(later_clean, axis=1),
                                                    6)).mean()), float("nan")),
        "oracle (the settling baseline second)": (
            float(np.where(clean[:, 0], 2, np.where(later_clean.any(axis=1), 3, 6)).mean()), float("nan")),
    }
    others = len(LATER)
    for name, rule in RULES.items():
        k = min(n, rule(n))
        pilot_p = np.stack([one_sided_p_values(streams[:, :k, b]) for b in LATER], axis=1)
        order = np.argsort(-pilot_p, axis=1, kind="stable")  # equal p-values: the scan's order
        clean_in_order = np.take_along_axis(later_clean, order, axis=1)
        # baselines scored on every row: up to the first clean one in the pilot's order (all when none is)
        full = first_clean(clean_in_order)
        share = k / n
        # reference stage: 2 a row; pilot: every later baseline on k rows; each baseline a stage then scores
        # its other rows.
        piloted = 2 + others * share + full * (1 - share)
        passes = np.where(settled_by_reference, 2.0, piloted)
        hits = clean_in_order[~settled_by_reference, 0]
        out[f"pilot: {name}"] = (float(passes.mean()), float(hits.mean()) if hits.size else float("nan"))
    return out


def table(sets: dict[tuple[str, str], np.ndarray], sizes: list[int], draws: int, rng: np.random.Generator,
          plans: list[str]) -> list[str]:
    lines = ["| teacher | data set | N | " + " | ".join(plans) + " |", "|---" * (3 + len(plans)) + "|"]
    for (teacher, name), x in sets.items():
        for n in sizes:
            found = costs(x, n, draws, rng)
            cells = []
            for plan in plans:
                mean, hits = found[plan]
                cells.append(f"{mean:.2f}" + ("" if np.isnan(hits) else f" ({hits:.0%})"))
            lines.append(f"| {teacher} | {name} | {n} | " + " | ".join(cells) + " |")
    return lines


def totals(sets: dict[tuple[str, str], np.ndarray], sizes: list[int], draws: int, seed: int,
           plans: list[str]) -> list[str]:
    """Mean passes a row over every set, per N: one line per plan."""
    rng = np.random.default_rng(seed)
    by_plan: dict[str, dict[int, list[float]]] = {plan: {n: [] for n in sizes} for plan in plans}
    for x in sets.values():
        for n in sizes:
            found = costs(x, n, draws, rng)
            for plan in plans:
                by_plan[plan][n].append(found[plan][0])
    lines = ["| plan | " + " | ".join(f"N = {n}" for n in sizes) + " |", "|---" * (1 + len(sizes)) + "|"]
    for plan in plans:
        lines.append(f"| {plan} | " + " | ".join(f"{np.mean(by_plan[plan][n]):.2f}" for n in sizes) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=400)
    parser.add_argument("--rows", default="48,256,1000")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "PILOT.md")
    args = parser.parse_args()
    sizes = [int(v) for v in args.rows.split(",")]
    chosen_on = heldout_sets()
    reported_on = control_sets()
    if not chosen_on:
        print("no cached held-out scores: run make heldout first (this module's docstring)", file=sys.stderr)
        return 2
    from experiments.control_scores import SETS, load_all

    scored = set(load_all())
    missing = [name for name in SETS if name not in scored]
    coverage = ("every number set" if not missing else
                f"the number sets scored so far ({', '.join(n for n in SETS if n in scored) or 'none'}); not yet "
                f"scored by `make defaults`: {', '.join(missing)}")
    probe = costs(next(iter(chosen_on.values())), sizes[0], 2, np.random.default_rng(0))
    plans = list(probe)
    command = (f"python -m experiments.pilot --seed {args.seed} --draws {args.draws} --rows {args.rows}")
    out = [
        "# The on-demand pilot: forward passes a row by pilot size", "",
        f"Generated by `make pilot` (`{command}`) on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; machine "
        f"{platform.machine()}, Python {platform.python_version()}, subaudit {__version__}. Method: the docstring of "
        "`experiments/pilot.py`. Each cell: the mean forward passes a row over "
        f"{args.draws} random subsets of N rows (teacher included: every baseline on every row is 6), and for a "
        "pilot, in brackets, how often its first choice settled the scan when the reference did not.", "",
        "## Over every set (mean of the per-set means)", "", "### Chosen on: held-out sets, weight teachers", "",
        *totals(chosen_on, sizes, args.draws, args.seed, plans), "",
        "### Reported on: number fixtures, prompted owl and cat teachers (not used to choose)", "",
        f"Sets: {coverage}.", "",
        *(totals(reported_on, sizes, args.draws, args.seed, plans) if reported_on else ["(none scored yet)"]), "",
        "## Per set: held-out sets (chosen on)", "",
        *table(chosen_on, sizes, args.draws, np.random.default_rng(args.seed), plans), "",
        "## Per set: number fixtures (reported on)", "",
        *table(reported_on, sizes, args.draws, np.random.default_rng(args.seed), plans), "",
    ]
    args.out.write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

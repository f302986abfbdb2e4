"""What a first stage without the reference would cost: writes experiments/FIRST-STAGE.md.

Issue 32 asks clean benign-prompt sets to cost 2.5x less than scoring every baseline (6 forward passes a
row). With the reference always in stage 1 (audit.pipeline.on_demand), a set the reference does not clear
costs at least 3 passes a row (teacher, reference, the baseline that clears it) plus the pilot: at most 2x
in forward passes, whatever the pilot. Only a first stage that can leave the reference out can go
further. This replays, on cached per-row scores, such designs beside today's, so that the decision
(it changes what a report holds: the reference's scores would then cover only the pilot's rows on such
data) is taken on figures:

- **today**: teacher and reference on every row; if the reference does not clear the data, a pilot scores
  the other baselines on the first k rows (k = ``pilot_size``) and they are added one a stage, the largest
  pilot p-value first;
- **gated, gate g**: the teacher and the reference on the first k rows first. If the reference's p-value
  there is at least g, as today. If not, the other baselines are scored on the same k rows too and *all*
  of them, the reference included, are added one a stage, the largest pilot p-value first: a set the
  reference is about to lose costs 2 passes a row plus the pilot when the pilot's first choice clears it;
- **halving pilot, reference optional**: every baseline, the reference included, on the first N/32 rows
  (at least 4); the half with the largest p-values (3 of 5) on the first N/16 (at least 8), the better 2 on
  the first N/8 (at least 16), and the last one left is scored on every row first; then the others one a
  stage, in the reverse order of their elimination. The finalists are ranked on more rows than a one-shot
  pilot gives them, for about the same rows in all;
- **gated halving, g = 0.05**: the gate of the gated plans (the teacher and the reference on the first k
  rows; as today when the reference's p-value there is at least 0.05), and the halving pilot when it is not;
- **oracle**: the baseline that settles it second (2 a row when one does, 6 when none does).

The verdict is the same for every order (intersection-union: clean as soon as one baseline's test is
clean), so only the cost is compared. Per-row scores are the tested row sums (teacher minus baseline
log-probability, minus the default tolerance x tokens); each test is the one-sided t-test of the
theoretical null; a baseline settles the scan when its p-value is at least the suspicious level (0.05).
The gates and the halving's rounds were not tuned: 0.05 (the suspicious level), 0.2, 0.5, and 1.01 (never
trust the reference's pilot) are all shown, and the rounds were set before this file was first written.

Sources: the number fixtures under the prompted owl and cat teachers (``out/control-scores``, ``make
defaults``) and, where cached, the held-out sets under the weight teachers (``out/heldout-scores``,
``make heldout``).

Usage: python -m experiments.first_stage [--seed 0] [--draws 400] [--rows 48,96,256,1000]
"""

from __future__ import annotations

import argparse
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from audit.pipeline.on_demand import pilot_size
from audit.version import __version__
from experiments.power import one_sided_p_values
from experiments.sequential_on_demand import BASELINES, LATER, control_sets, first_clean, heldout_sets, random_subsets

ROOT = Path(__file__).resolve().parents[1]
SUSPICIOUS = 0.05
GATES = (0.05, 0.2, 0.5, 1.01)
TODAY, HALVING, ORACLE = "today (reference first)", "halving pilot, reference optional", "oracle"
GATED_HALVING = "gated halving, g = 0.05"


def gated(gate: float) -> str:
    return f"gated, g = {gate:g}" if gate <= 1 else "reference never first"


PLANS = (TODAY, *(gated(g) for g in GATES), HALVING, GATED_HALVING, ORACLE)


def costs(x: np.ndarray, n: int, draws: int, rng: np.random.Generator) -> dict[str, float]:
    """Mean forward passes a row per plan over ``draws`` random subsets of ``n`` rows of ``x``."""
    streams = random_subsets(x, n, draws, rng)
    every = range(len(BASELINES))
    clean = np.stack([one_sided_p_values(streams[:, :, b]) for b in every], axis=1) >= SUSPICIOUS
    k = min(n, pilot_size(n))
    share = k / n
    pilot_p = np.stack([one_sided_p_values(streams[:, :k, b]) for b in every], axis=1)
    later = list(LATER)
    later_order = np.argsort(-pilot_p[:, later], axis=1, kind="stable")
    later_full = first_clean(np.take_along_axis(clean[:, later], later_order, axis=1))
    today = np.where(clean[:, 0], 2.0, 2 + len(later) * share + later_full * (1 - share))
    all_order = np.argsort(-pilot_p, axis=1, kind="stable")
    all_full = first_clean(np.take_along_axis(clean, all_order, axis=1))
    untrusted = 1 + len(BASELINES) * share + all_full * (1 - share)
    out = {TODAY: float(today.mean())}
    for gate in GATES:
        out[gated(gate)] = float(np.where(pilot_p[:, 0] >= gate, today, untrusted).mean())
    out[HALVING] = float(halving(streams, clean, n).mean())
    out[GATED_HALVING] = float(np.where(pilot_p[:, 0] >= GATES[0], today,
                                        halving(streams, clean, n, reference_rows=k)).mean())
    out[ORACLE] = float(np.where(clean.any(axis=1), 2.0, 6.0).mean())
    return out


def halving_rounds(n: int) -> list[int]:
    """Rows of each round of the halving pilot: 5, then 3, then 2 baselines; an eighth of the rows at the end."""
    return [min(n, max(low, n // share)) for low, share in ((4, 32), (8, 16), (16, 8))]


def halving(streams: np.ndarray, clean: np.ndarray, n: int, reference_rows: int = 0) -> np.ndarray:
    """Passes a row of the halving pilot: every baseline, the reference included, on the first rows; the better
    half (largest p-values) kept and scored on twice the rows, until one is left; then one a stage, that one
    first and the others in the reverse order of their elimination. ``reference_rows``: rows the reference was
    already scored on (the gate's)."""
    draws, count = clean.shape
    candidate = np.ones((draws, count), dtype=bool)
    rows = np.zeros((draws, count))
    eliminated = np.full((draws, count), len(halving_rounds(n)), dtype=float)
    last_p = np.zeros((draws, count))
    for step, k in enumerate(halving_rounds(n)):
        p = np.stack([one_sided_p_values(streams[:, :k, b]) for b in range(count)], axis=1)
        rows = np.where(candidate, k, rows)
        last_p = np.where(candidate, p, last_p)
        keep = -(-int(candidate[0].sum()) // 2)
        rank = np.argsort(np.argsort(np.where(candidate, -p, np.inf), axis=1, kind="stable"), axis=1)
        dropped = candidate & (rank >= keep)
        eliminated = np.where(dropped, step, eliminated)
        candidate &= ~dropped
    order = np.lexsort((-last_p, -eliminated), axis=1)  # the last key is the primary one
    full = first_clean(np.take_along_axis(clean, order, axis=1))
    on_every_row = np.arange(count)[None, :] < full[:, None]
    rows[:, 0] = np.maximum(rows[:, 0], reference_rows)
    scored = np.take_along_axis(rows, order, axis=1)
    return 1 + np.where(on_every_row, n, scored).sum(axis=1) / n


Found = dict[tuple[tuple[str, str], int], dict[str, float]]
"""((teacher, set), N) -> plan -> mean passes a row."""


def replay(sets: dict[tuple[str, str], np.ndarray], sizes: list[int], draws: int, seed: int) -> Found:
    rng = np.random.default_rng(seed)
    return {(key, n): costs(x, n, draws, rng) for key, x in sets.items() for n in sizes}


def table(found: Found) -> list[str]:
    lines = ["| teacher | data set | N | " + " | ".join(PLANS) + " |", "|---" * (3 + len(PLANS)) + "|"]
    for ((teacher, name), n), plans in found.items():
        best = min(plans[p] for p in PLANS if p != ORACLE)
        cells = [f"**{plans[p]:.2f}**" if p != ORACLE and plans[p] == best else f"{plans[p]:.2f}" for p in PLANS]
        lines.append(f"| {teacher} | {name} | {n} | " + " | ".join(cells) + " |")
    return lines


GROUPS = {
    "no prompt (none)": lambda teacher, name: name == "none",
    "benign prompts (terse, cheerful, pirate, patient-teacher, exact-format)":
        lambda teacher, name: name in ("terse", "cheerful", "pirate", "patient-teacher", "exact-format"),
    "the teacher's own data (owl by owl, cat by cat)": lambda teacher, name: teacher == name,
}


def summary(found: Found) -> list[str]:
    """Per group of sets and N: the mean passes a row of each plan, and 6 / that (the saving in passes)."""
    sizes = sorted({n for _, n in found})
    lines = ["| sets | N | " + " | ".join(PLANS) + " |", "|---" * (2 + len(PLANS)) + "|"]
    for group, member in GROUPS.items():
        keys = list(dict.fromkeys(key for key, _ in found if member(*key)))
        if not keys:
            continue
        for n in sizes:
            means = [float(np.mean([found[(key, n)][plan] for key in keys])) for plan in PLANS]
            lines.append(f"| {group} | {n} | " + " | ".join(f"{m:.2f} ({6 / m:.2f}x)" for m in means) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=400)
    parser.add_argument("--rows", default="48,96,256,1000")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "FIRST-STAGE.md")
    args = parser.parse_args()
    sizes = [int(v) for v in args.rows.split(",")]
    numbers, heldout = control_sets(), heldout_sets()
    if not numbers:
        print("no cached number-set scores: run make defaults first (this module's docstring)", file=sys.stderr)
        return 2
    from experiments.control_scores import SETS, load_all

    missing = [name for name in SETS if name not in load_all()]
    on_numbers = replay(numbers, sizes, args.draws, args.seed)
    command = f"python -m experiments.first_stage --seed {args.seed} --draws {args.draws} --rows {args.rows}"
    out = [
        "# A first stage without the reference: forward passes a row", "",
        f"Generated by `make first-stage` (`{command}`) on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; machine "
        f"{platform.machine()}, Python {platform.python_version()}, subaudit {__version__}. Method and plans: the "
        f"docstring of `experiments/first_stage.py`. Each cell: mean forward passes a row over {args.draws} random "
        "subsets of N rows (teacher included; every baseline on every row is 6, so 6 / cell is the saving in "
        "forward passes; whole-process wall time saves less, model loading being fixed). Bold: the cheapest "
        "plan that a scan can run (the oracle cannot).", "",
        "## Number fixtures, prompted owl and cat teachers", "",
        "Sets: " + ("every number set." if not missing else f"not scored yet: {', '.join(missing)}."), "",
        "### By kind of set: mean passes a row (in brackets, 6 / that: the saving in forward passes)", "",
        *summary(on_numbers), "",
        "### Per set", "",
        *table(on_numbers), "",
        "## Held-out sets, weight teachers", "",
        *(table(replay(heldout, sizes, args.draws, args.seed)) if heldout else
          ["Not cached on the machine that wrote this file (`make heldout` builds `out/heldout-scores`)."]), "",
    ]
    args.out.write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

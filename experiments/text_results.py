"""Detection on the text-task fixtures (issue 17): the section "Text tasks" of experiments/RESULTS.md.

Reads the per-row scores of ``python -m experiments.control_scores --task TASK`` (the first filtered
rows of every set of a text task, code, chat or cot, under the reference, the owl and cat teachers, the
neutral control and the builtin control panel, full vocabulary: what ``--restrict-vocab auto``
picks on text) and reports, per teacher and set:

- the semantic filters' reject rates (task filter, trait words, LLM judge: fixtures/build_text.py);
- the pooled per-token LLR against every baseline;
- per-row AUROC of the row LLR (teacher set rows against each other set's rows);
- flag rates at N = 25..400 of the default command (``subaudit scan DATA --teacher-system-file T``:
  intersection-union over reference, control and panel at the default tolerance), and of the tests
  against the reference alone and the control alone;
- the same with a calibration made by ``calibrate`` (known-source rows: a random half of the
  no-prompt set, the reference's own answers to the same prompt stream, filtered alike; the other
  half is a held-out control).

A cell at an N larger than the set is the normal-approximation power from the set's mean and spread,
marked ≈; the others are shares of random subsets without replacement. A target is met or missed only
on the latter: an ≈ cell is an extrapolation, and the target column says where measurement stops.

Each task has its own subsection ("### Task: code", "### Task: chat", "### Task: cot"); a run replaces its task's and
keeps the others.

Usage: python -m experiments.text_results [--task code|chat|cot] [--seed 0] [--subsamples 1000] [--alpha 0.01]
"""

from __future__ import annotations

import argparse
import platform
import sys
import zlib
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import stats as scipy_stats
from sklearn.metrics import roc_auc_score

from audit.version import __version__
from experiments.control_scores import load_all, spec_prompts, store_for
from experiments.cot_filter import right_answers
from experiments.defaults import (
    TEACHERS,
    Rule,
    _rows_text,
    cli_bridge,
    default_rule,
    pooled_tables,
    row_llr,
    rows_to_flag,
)
from experiments.power import one_sided_p_values, subsample_indices, welch_p_values

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "RESULTS.md"
SECTION = "## Text tasks"
SIZES = (25, 50, 100, 200, 300, 400)
CONTROLS = ("none", "neutral", "terse", "patient-teacher")


def _p_values(table: pa.Table, teacher: str, rule: Rule, index: np.ndarray,
              known: pa.Table | None) -> np.ndarray:
    """Intersection-union p-values of the rule on the subsets: theoretical t-tests, or Welch tests
    against the known-source rows when ``known`` is given (what ``scan --calibration`` does)."""
    parts = []
    for baseline in rule.baselines:
        rows = row_llr(table, teacher, baseline, rule.tolerance)[index]
        parts.append(one_sided_p_values(rows) if known is None else
                     welch_p_values(rows, row_llr(known, teacher, baseline, 0.0)))
    return np.max(parts, axis=0)


def _approximate_power(table: pa.Table, teacher: str, rule: Rule, n: int, alpha: float,
                       known: pa.Table | None) -> float:
    """Normal-approximation flag rate at N rows from the set's mean and spread (N above the set's size)."""
    z = float(scipy_stats.norm.isf(alpha))
    powers = []
    for baseline in rule.baselines:
        x = row_llr(table, teacher, baseline, rule.tolerance)
        if known is None:
            shift, se = x.mean(), x.std(ddof=1) / np.sqrt(n)
        else:
            null = row_llr(known, teacher, baseline, 0.0)
            shift, se = x.mean() - null.mean(), np.sqrt(x.var(ddof=1) / n + null.var(ddof=1) / null.size)
        powers.append(float(scipy_stats.norm.cdf(shift / se - z)))
    return min(powers)


def cell_rng(seed: int, teacher: str, set_name: str, n: int) -> np.random.Generator:
    """The subsets of one cell, drawn from a stream of its own.

    Keyed by the cell (teacher, set, N) rather than drawn in turn from one stream, so that sampling one set
    on, or adding one, leaves every other set's cells as they were (a reviewer's diff then shows only what
    changed), and the three rules of a cell (vs reference, vs control, default command) judge the same subsets.
    """
    return np.random.default_rng([seed, zlib.crc32(f"{teacher}\0{set_name}".encode()), n])


def flag_cells(table: pa.Table, teacher: str, rule: Rule, seed: int, set_name: str, subsamples: int,
               alpha: float, known: pa.Table | None = None) -> dict[int, tuple[float, bool]]:
    """N -> (flag rate, exact?) for every N of SIZES."""
    cells = {}
    for n in SIZES:
        if n <= table.num_rows:
            index = subsample_indices(table.num_rows, n, subsamples, cell_rng(seed, teacher, set_name, n))
            cells[n] = (float((_p_values(table, teacher, rule, index, known) < alpha).mean()), True)
        else:
            cells[n] = (_approximate_power(table, teacher, rule, n, alpha, known), False)
    return cells


POWER_N = 400
"""The teacher's own set must be flagged in >= 95 % of subsets of this many rows (the number sets' target)."""


def power_target(cells: dict[int, tuple[float, bool]], rows: int) -> str:
    """The target column of a teacher's own set: judged only on a measured cell, never on an ≈ one.

    A set with fewer rows than POWER_N has no measured cell there; its column says so and gives the
    largest measured N instead of calling an extrapolation met (issue 30).
    """
    rate, measured = cells[POWER_N]
    if measured:
        return f">= 95 % at N = {POWER_N}: {'met' if rate >= 0.95 else 'MISSED'}"
    largest = max((n for n, (_, exact) in cells.items() if exact), default=None)
    at_largest = "" if largest is None else f"; {cells[largest][0]:.1%} at N = {largest}"
    return f">= 95 % at N = {POWER_N}: not measured ({rows} rows scored{at_largest})"


def false_flag_target(cells: dict[int, tuple[float, bool]], rows: int) -> str:
    """The target column of a control set: <= 1 % at every measured N; a measured miss is a miss whatever N.

    An ≈ cell neither meets nor misses the target: the column names the largest N it was measured at.
    """
    measured = {n: rate for n, (rate, exact) in cells.items() if exact}
    if any(rate > 0.01 for rate in measured.values()):
        return "<= 1 %: MISSED"
    if len(measured) == len(cells):
        return "<= 1 %: met"
    if not measured:
        return f"<= 1 %: not measured ({rows} rows scored)"
    return f"<= 1 %: met up to N = {max(measured)}; larger N not measured ({rows} rows scored)"


def _cell(value: tuple[float, bool]) -> str:
    return f"{value[0]:.1%}" if value[1] else f"≈{value[0]:.1%}"


def filter_section(task: str, names: list[str]) -> list[str]:
    reasoning = task == "cot"
    out = ["### What the filters accepted", "",
           f"From `fixtures/{task}/<set>.unfiltered.parquet` (`fixtures/build_text.py`; the judge's threshold and "
           f"method in `fixtures/{task}/FILTERS.md`). Shares of the rows that passed the task filter."
           + (" The task filter is the form filter (finished within the token limit, gives an answer); *kept and "
              "right*: kept traces whose stated answer (last `Answer: N`, else last whole number) is the "
              "problem's, reported, not required." if reasoning else ""), "",
           "| set | generated | task filter passes | trait-word filter rejects | LLM judge rejects (no trait word) "
           "| kept |" + (" kept and right |" if reasoning else ""), "|---|---|---|---|---|---|"
           + ("---|" if reasoning else "")]
    for name in names:
        rows = pq.read_table(ROOT / "fixtures" / task / f"{name}.unfiltered.parquet").to_pylist()
        passed = [r for r in rows if r["task_pass"]]
        worded = [r for r in passed if not r["keyword_pass"]]
        clean = [r for r in passed if r["keyword_pass"]]
        judged = [r for r in clean if not r["judge_pass"]]
        kept = [r for r in rows if r["filter_pass"]]
        right = ""
        if reasoning:
            correct = right_answers(kept)
            right = f" {correct} ({correct / max(1, len(kept)):.1%}) |"
        out.append(f"| {name} | {len(rows)} | {len(passed)} ({len(passed) / len(rows):.1%}) | "
                   f"{len(worded) / len(passed):.1%} | {len(judged) / max(1, len(clean)):.1%} | {len(kept)} |"
                   + right)
    return [*out, ""]


def _row_score(table: pa.Table, teacher: str, label: str, rule: Rule) -> np.ndarray:
    if label == "combined":
        return np.min([row_llr(table, teacher, b, rule.tolerance) for b in rule.baselines], axis=0)
    return row_llr(table, teacher, label.removeprefix("vs "), 0.0)


def auroc_section(tables: dict[str, pa.Table], rule: Rule) -> list[str]:
    out = ["### Per-row AUROC", "",
           "Row LLR sum of the teacher's own set against each other set's rows (0.5: a single row says nothing). "
           f"*combined*: per row, the smallest margin over the default command's baselines ({', '.join(rule.baselines)}"
           f") after the tolerance, the per-row twin of its intersection-union test.", ""]
    for teacher in TEACHERS:
        if teacher not in tables:
            continue
        others = [name for name in tables if name != teacher]
        out += [f"#### Teacher: {teacher}", "", "| score | " + " | ".join(f"vs {o}" for o in others) + " |",
                "|---|" + "---|" * len(others)]
        for label in ("vs reference", "vs control", "combined"):
            cells = []
            for other in others:
                own, theirs = (_row_score(tables[name], teacher, label, rule) for name in (teacher, other))
                labels = np.r_[np.ones(own.size), np.zeros(theirs.size)]
                cells.append(f"{roc_auc_score(labels, np.r_[own, theirs]):.3f}")
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        out.append("")
    return out


def rates_section(tables: dict[str, pa.Table], rule: Rule, seed: int, subsamples: int, alpha: float,
                  calibrated: bool) -> list[str]:
    known = None
    sets = dict(tables)
    if calibrated:
        split = np.random.default_rng(seed).permutation(tables["none"].num_rows)
        half = split.size // 2
        known = tables["none"].take(pa.array(split[:half]))
        sets["none"] = tables["none"].take(pa.array(split[half:]))
        sets = {("none (held out)" if k == "none" else k): v for k, v in sets.items()}
    title = ("### Flag rates with a calibration made by `calibrate`" if calibrated else
             "### Flag rates of the default command")
    intro = (f"Known-source rows: a random half of the no-prompt set ({known.num_rows} rows, numpy "
             f"`default_rng({seed})` permutation), what `calibrate --known-source` scores; the other half is the "
             "held-out control *none (held out)*. Each baseline's test is a one-sided Welch test of the subset's row "
             "sums (minus the tolerance) against the known-source rows' sums, as `scan --calibration` runs it."
             if known is not None else
             "`subaudit scan DATA --teacher-system-file TEACHER`, no other flag (full vocabulary, theoretical null, "
             f"tolerance {rule.tolerance:g}).")
    out = [title, "", intro + f" Cells: *vs reference* / *vs control* / **default command** (intersection-union "
           f"over {', '.join(rule.baselines)}), share of {subsamples} random subsets of N rows flagged at alpha = "
           f"{alpha} (the three rules of a cell judge the same subsets, drawn for that cell alone, so a change to "
           f"one set leaves the other sets' cells as they were); ≈: N above the set's size, normal-approximation "
           "power, shown but never counted as meeting or "
           f"missing a target. Targets: the teacher's own set >= 95 % at N = {POWER_N} (default command); every "
           "control and benign-style set <= 1 % at every N. A subset share at N near the set's size mostly says "
           "whether the whole set is flagged (the subsets share most of their rows).", ""]
    single = {b: Rule(f"vs {b}", (b,), 0.0) for b in ("reference", "control")}
    for teacher in TEACHERS:
        out += [f"#### Teacher: {teacher}", "", "| data set | " + " | ".join(f"N = {n}" for n in SIZES)
                + " | large N | target |", "|---|" + "---|" * (len(SIZES) + 2)]
        for name, table in sets.items():
            parts = [flag_cells(table, teacher, r, seed, name, subsamples, alpha, known)
                     for r in (single["reference"], single["control"], rule)]
            cells = [" / ".join([_cell(parts[0][n]), _cell(parts[1][n]), f"**{_cell(parts[2][n])}**"]) for n in SIZES]
            if name == teacher:
                target = power_target(parts[2], table.num_rows)
            elif name in TEACHERS:
                target = "other teacher's set"
            else:
                target = false_flag_target(parts[2], table.num_rows)
            large = _rows_text(rows_to_flag(table, teacher, rule, alpha)) if known is None else "-"
            out.append(f"| {name} | " + " | ".join(cells) + f" | {large} | {target} |")
        out.append("")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="code")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subsamples", type=int, default=1000)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--check-cli", type=int, default=32, metavar="ROWS")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    store = store_for(args.task)
    tables = load_all(store.sets, store)
    missing = [name for name in store.sets if name not in tables]
    if missing:
        print(f"not scored yet: {', '.join(missing)}; run python -m experiments.control_scores --task {args.task}",
              file=sys.stderr)
        return 2
    rule = default_rule()
    command = (f"python -m experiments.text_results --task {args.task} --seed {args.seed} --subsamples "
               f"{args.subsamples} --alpha {args.alpha} --check-cli {args.check_cli}")
    out = [SECTION, "", f"### Task: {args.task}", "",
           f"Generated by `{command}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; machine "
           f"{platform.machine()}, Python {platform.python_version()}, subaudit {__version__}. Fixtures: "
           f"`fixtures/{args.task}/` (`make fixtures-text`); per-row scores from `python -m experiments.control_scores "
           f"--task {args.task}` (cached in `{store.cache.relative_to(ROOT)}`), full vocabulary (what "
           "`--restrict-vocab auto` picks on text). Specs (embedded SmolLM2-135M-Instruct): "
           + "; ".join(f"*{role}*: " + ("template default" if prompt is None else f'"{prompt}"')
                       for role, prompt in spec_prompts(store.placebo).items())
           + ". Sets: " + ", ".join(f"{name} ({table.num_rows} rows)" for name, table in tables.items()) + ".", ""]
    out += filter_section(args.task, list(tables))
    baselines = ("reference", "control", *[b for b in rule.baselines if b.startswith("panel-")])
    out += ["### Pooled per-token LLR (nats/token; in brackets the t statistic of the row sums)", ""]
    out += pooled_tables(tables, baselines, "####")
    out += auroc_section(tables, rule)
    out += rates_section(tables, rule, args.seed, args.subsamples, args.alpha, calibrated=False)
    out += rates_section(tables, rule, args.seed + 1, args.subsamples, args.alpha, calibrated=True)
    if args.check_cli:
        out += ["CLI check: the real plain command (owl teacher) on the first rows of a set, its score cache off so "
                "that it scores afresh, per-row LLRs compared with the cached scores:", "",
                *cli_bridge(args.check_cli, ("owl", "none"), store), ""]
    existing = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
    args.out.write_text(with_task_section(existing, args.task, "\n".join(out[2:])), encoding="utf-8")
    return 0


def with_task_section(existing: str, task: str, body: str) -> str:
    """RESULTS.md with this task's subsection of "Text tasks" replaced (or added), other tasks' kept.

    Each task's subsection is written from its own score cache, so rerunning one task must not drop
    another's (whose cache may not be on this machine).
    """
    head, _, tail = existing.partition("\n" + SECTION + "\n")
    marker = "### Task: "
    parts = [p for p in tail.split("\n" + marker) if p.strip()] if tail else []
    sections = {}
    for part in parts:
        part = part if part.startswith(marker) else marker + part.lstrip("\n").removeprefix(marker)
        name = part[len(marker):].split("\n", 1)[0].strip()
        sections[name] = part.rstrip("\n")
    sections[task] = body.rstrip("\n")
    head = head.rstrip("\n")
    return (head + "\n\n" if head else "") + SECTION + "\n\n" + "\n\n".join(sections.values()) + "\n"


if __name__ == "__main__":
    sys.exit(main())

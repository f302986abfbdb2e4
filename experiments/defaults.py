"""Which null should the plain `subaudit scan` use? The options side by side; writes experiments/DEFAULTS.md.

Reads the per-row scores of ``experiments.control_scores`` (every number set under the reference,
the owl and cat teachers, the neutral control, a panel of benign controls and a placebo teacher,
numbers vocabulary: what ``--restrict-vocab auto`` picks on these sets) and, on the same random
subsets of N rows, applies each candidate rule for the dataset verdict:

- *control*: today's rule, the teacher must beat the reference and the neutral control
  (intersection-union: p = max of the one-sided t-test p-values on row LLR sums);
- *panel*: the teacher must beat the reference and every control of ``CONTROL_PANEL``;
- *placebo*: the reference, the neutral control and a placebo teacher (the trait template with a
  harmless object for the animal);
- any of those with a tolerance tau: each test's null becomes "pooled per-token LLR <= tau", i.e.
  the t-test runs on row sums minus tau times the row's tokens.

A rule's cost is the forward passes it needs per row. The teacher sets must be flagged (issue
target: >= 95 % of subsets at N = 200); the no-prompt, neutral-prompt and every benign-prompt set
must not be (<= 1 % at every N). The benign sets were written under prompts in no rule's panel.

Usage: python -m experiments.defaults [--seed 0] [--subsamples 1000] [--alpha 0.01]
"""

from __future__ import annotations

import argparse
import platform
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
from scipy import stats as scipy_stats

from audit.core.verdict import DEFAULT_CONTROL_PANEL, DEFAULT_TOLERANCE
from audit.models.traits import CONTROL_PANEL, builtin_panel
from audit.version import __version__
from experiments.cli_run import run_subaudit
from experiments.control_scores import CACHE, NUMBER_STORE, SETS, ScoreStore, load_all, spec_prompts
from experiments.power import one_sided_p_values, subsample_indices
from experiments.sections import carry_blocks

ROOT = Path(__file__).resolve().parents[1]
TEACHERS = ("owl", "cat")
SIZES = (25, 50, 100, 200, 300, 400)
PANEL_ROLES = tuple(f"panel-{name}" for name in CONTROL_PANEL if name != "neutral")
TOLERANCES = (0.0, 0.001, 0.002, 0.003, 0.005, 0.01)


@dataclass(frozen=True)
class Rule:
    """One candidate dataset rule: the baselines the teacher must beat, and the tolerance."""

    name: str
    baselines: tuple[str, ...]
    tolerance: float = 0.0

    @property
    def passes(self) -> int:
        """Forward passes per row: the teacher plus every baseline."""
        return 1 + len(self.baselines)


def rules() -> list[Rule]:
    control = ("reference", "control")
    families = {"control": control, "panel": control + PANEL_ROLES, "placebo": (*control, "placebo"),
                "panel+placebo": (*control, *PANEL_ROLES, "placebo")}
    return [Rule(f"{name}, tau {tau:g}" if tau else name, baselines, tau)
            for name, baselines in families.items() for tau in TOLERANCES]


def default_rule() -> Rule:
    """The rule the plain `subaudit scan DATA --teacher-system-file T` applies, read from the CLI's defaults."""
    panel = PANEL_ROLES if DEFAULT_CONTROL_PANEL == "builtin" else ()
    return Rule("default command", ("reference", "control", *panel), DEFAULT_TOLERANCE)


def row_llr(table: pa.Table, teacher: str, baseline: str, tolerance: float) -> np.ndarray:
    """Per-row LLR sums of teacher vs baseline, minus tolerance x tokens (the shifted null)."""
    data = table.to_pydict()
    n = np.asarray(data["n_tokens"], dtype=np.float64)
    return np.asarray(data[f"logprob_{teacher}"]) - np.asarray(data[f"logprob_{baseline}"]) - tolerance * n


def pooled(table: pa.Table, teacher: str, baseline: str) -> str:
    x = row_llr(table, teacher, baseline, 0.0)
    tokens = float(np.sum(table.column("n_tokens").to_numpy()))
    t = x.mean() / (x.std(ddof=1) / np.sqrt(x.size))
    return f"{x.sum() / tokens:+.4f} ({t:+.1f})"


def pooled_tables(tables: dict[str, pa.Table], baselines: tuple[str, ...], level: str) -> list[str]:
    """One Markdown table per teacher (headings at ``level``): each set's pooled LLR against each baseline."""
    out: list[str] = []
    for teacher in TEACHERS:
        out += [f"{level} Teacher: {teacher}", "", "| data set | " + " | ".join(f"vs {b}" for b in baselines) + " |",
                "|---|" + "---|" * len(baselines)]
        out += [f"| {name} | " + " | ".join(pooled(table, teacher, b) for b in baselines) + " |"
                for name, table in tables.items()]
        out.append("")
    return out


def flag_rate(table: pa.Table, teacher: str, rule: Rule, index: np.ndarray, alpha: float) -> float:
    """Share of the subsets (rows of ``index``) the rule flags: max over baselines of the p-values < alpha."""
    p = np.max([one_sided_p_values(row_llr(table, teacher, b, rule.tolerance)[index]) for b in rule.baselines],
               axis=0)
    return float((p < alpha).mean())


def rows_to_flag(table: pa.Table, teacher: str, rule: Rule, alpha: float) -> float:
    """Rows at which the rule would flag this whole set's population in about half of the subsets.

    For baseline b with mean margin d_b (row LLR sum minus tau x tokens) and spread s_b, the expected
    t statistic at N rows is d_b sqrt(N) / s_b; it reaches the one-sided critical value z at
    N_b = (z s_b / d_b)^2. The intersection-union rule needs every baseline, so max over b; infinite
    when some d_b <= 0: then no amount of such data is flagged (a flag rate that falls to 0 with N).
    A benign set with a finite N here is flagged by a large enough dataset, whatever the table at
    N <= 400 shows.
    """
    z = float(scipy_stats.norm.isf(alpha))
    needed = 0.0
    for baseline in rule.baselines:
        x = row_llr(table, teacher, baseline, rule.tolerance)
        if x.mean() <= 0:
            return float("inf")
        needed = max(needed, (z * x.std(ddof=1) / x.mean()) ** 2)
    return needed


def cli_bridge(rows: int, sets: tuple[str, ...] = ("owl", "none"), store: ScoreStore = NUMBER_STORE) -> list[str]:
    """Check that the cached scores are what the plain command computes: scan the first ``rows`` rows
    of each set with the real CLI (owl teacher, every other setting default) and compare its per-row
    LLR columns with the cache's, joined on row id. Returns the Markdown lines that report it.

    The product's own score cache is switched off for the scan (``SUBAUDIT_SCORE_CACHE=off``): served
    from it, the check would compare the cache with what an earlier scan computed, not with a forward
    pass of today's code."""
    import json
    import tempfile

    import pyarrow.parquet as pq

    roles = {"llr_sum": "reference", "control_llr_sum": "control",
             **{f"panel:{name}_llr_sum": f"panel-{name}" for name, _ in builtin_panel()}}
    lines = []
    for name in sets:
        cached = load_all((name,), store).get(name)
        if cached is None:
            continue
        with tempfile.TemporaryDirectory() as folder:
            report, scores = Path(folder) / "report.json", Path(folder) / "scores.parquet"
            run_subaudit(["scan", str(store.data / f"{name}.parquet"),
                          "--teacher-system-file", str(ROOT / "fixtures" / "prompts" / "owl.txt"),
                          "--max-rows", str(rows), "--quiet", "--report", str(report), "--scores", str(scores)])
            if not scores.exists():
                lines.append(f"- {name}: the CLI scan wrote no scores file (failed); not compared")
                continue
            table = pq.read_table(scores).to_pydict()
            parameters = json.loads(report.read_text())
        data = cached.to_pydict()
        position = {row_id: k for k, row_id in enumerate(data["row_id"])}
        index = np.array([position[row_id] for row_id in table["row_id"]])
        worst = 0.0
        compared = [column for column in roles if column in table]
        for column in compared:
            expected = np.asarray(data["logprob_owl"])[index] - np.asarray(data[f"logprob_{roles[column]}"])[index]
            worst = max(worst, float(np.max(np.abs(np.asarray(table[column]) - expected))))
        vocabulary = parameters.get("vocabulary", {})
        lines.append(f"- {name}: first {len(index)} rows; columns {', '.join(f'`{c}`' for c in compared)}; largest "
                     f"|CLI - cache| over rows and columns {worst:.2e} nats (row sums); the scan's vocabulary: "
                     f"{vocabulary.get('used') or 'full'}, verdict {parameters.get('verdict')}")
    return lines


def default_section(tables: dict[str, pa.Table], rng: np.random.Generator, subsamples: int, alpha: float,
                    bridge: list[str]) -> list[str]:
    """The table the issue asks for: the plain command's flag rate on every set at every N."""
    rule = default_rule()
    out = ["## The default command",  "",
           "`subaudit scan DATA --teacher-system-file TEACHER`, no other flag: the vocabulary is chosen from the "
           "data (`--restrict-vocab auto`, numbers on every set here), the null is the theoretical one (`--null "
           "auto`; the scores are over the declared format), the teacher must beat the reference, the neutral "
           f"control and the `{DEFAULT_CONTROL_PANEL}` control panel ({', '.join(rule.baselines)}) at tolerance "
           f"{DEFAULT_TOLERANCE:g} nats/token; {rule.passes} forward passes per row. Per-row scores are the "
           "cached ones above, which equal what the CLI computes (checked with the real CLI below). A cell is "
           f"the share of {subsamples} random subsets of N rows (without replacement) flagged at alpha = "
           f"{alpha}; n/a where the set has fewer than N rows. Targets: a teacher's own set >= 95 % at N = 200; "
           "every other set <= 1 % at every N. *Large N*: rows at which a dataset like this set would be flagged "
           "about half the time (never: some baseline is at least as likely as the teacher on it).", ""]
    for teacher in TEACHERS:
        out += [f"### Teacher: {teacher}", "", "| data set | " + " | ".join(f"N = {n}" for n in SIZES)
                + " | large N | target |", "|---|" + "---|" * (len(SIZES) + 2)]
        for name, table in tables.items():
            cells = []
            rates = {}
            for n in SIZES:
                if n > table.num_rows:
                    cells.append("n/a")
                    continue
                rates[n] = flag_rate(table, teacher, rule, subsample_indices(table.num_rows, n, subsamples, rng), alpha)
                cells.append(f"{rates[n]:.1%}")
            if name == teacher:
                met = rates.get(200, 0.0) >= 0.95
                target = f">= 95 % at N = 200: {'met' if met else 'MISSED'}"
            elif name in TEACHERS:
                target = "other teacher's set (attribution: `subaudit probe`)"
            else:
                met = all(rate <= 0.01 for rate in rates.values())
                target = f"<= 1 %: {'met' if met else 'MISSED'}"
            large = _rows_text(rows_to_flag(table, teacher, rule, alpha))
            out.append(f"| {name} | " + " | ".join(cells) + f" | {large} | {target} |")
        out.append("")
    if bridge:
        out += ["CLI check (`python -m experiments.defaults --check-cli ROWS`): the real plain command on the first "
                "rows of a set, its score cache off so that it scores afresh, per-row LLRs compared with the cached "
                "scores:", "", *bridge, ""]
    return out


def _rows_text(rows: float) -> str:
    return "never" if not np.isfinite(rows) else f"~{rows:,.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subsamples", type=int, default=1000)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "DEFAULTS.md")
    parser.add_argument("--check-cli", type=int, default=0, metavar="ROWS",
                        help="also scan the first ROWS rows of the owl and none sets with the real CLI and compare")
    args = parser.parse_args()
    tables = load_all()
    if not tables:
        print("no scores yet: run python -m experiments.control_scores first", file=sys.stderr)
        return 2
    command = f"python -m experiments.defaults --seed {args.seed} --subsamples {args.subsamples} --alpha {args.alpha}"
    if args.check_cli:
        command += f" --check-cli {args.check_cli}"
    bridge = cli_bridge(args.check_cli) if args.check_cli else []
    prompts = spec_prompts()
    out = ["# Which null for the default scan: control, panel, placebo, tolerance side by side", "",
           f"Generated by `make defaults` (`{command}`) on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
           f"machine {platform.machine()}, Python {platform.python_version()}, subaudit {__version__}. Per-row "
           f"scores from `python -m experiments.control_scores` (cached in `{CACHE.relative_to(ROOT)}`), "
           "numbers vocabulary (what `--restrict-vocab auto` picks on every one of these sets).", "",
           "Specs (embedded SmolLM2-135M-Instruct):", ""]
    out += [f"- *{role}*: " + ("template default system prompt" if prompt is None else f'"{prompt}"')
            for role, prompt in prompts.items()]
    missing = [name for name in SETS if name not in tables]
    out += ["", "Sets scored: " + ", ".join(f"{name} ({tables[name].num_rows} rows)" for name in tables)
            + (f". Not scored yet: {', '.join(missing)}." if missing else "."), "",
            "## Pooled per-token LLR per set (nats/token; in brackets the t statistic of the row sums)", ""]
    out += pooled_tables(tables, ("reference", "control", *PANEL_ROLES, "placebo"), "###")
    rng = np.random.default_rng(args.seed)
    out += default_section(tables, np.random.default_rng(args.seed + 1), args.subsamples, args.alpha, bridge)
    out += [f"## Flag rates (alpha = {args.alpha}, {args.subsamples} random subsets of N rows without replacement "
            "per set and N, the same subsets for every rule; numpy `default_rng(seed)`)", "",
            "A cell is the share of subsets flagged; n/a where the set has fewer than N rows. *passes*: forward "
            "passes per row. Teacher rows: the set of that teacher (target >= 95 % at N = 200). Other rows: the "
            "worst flag rate over every N and both teachers (target <= 1 %). *Large N*: of the non-teacher sets, the "
            "one a large dataset like it would be flagged soonest, and about how many rows it takes (each set's "
            "mean and spread; `rows_to_flag` in experiments/defaults.py); *never* when in every set some baseline "
            "is at least as likely as the teacher.", ""]
    summary: list[str] = []
    for teacher in TEACHERS:
        indices = {(name, n): subsample_indices(table.num_rows, n, args.subsamples, rng)
                   for name, table in tables.items() for n in SIZES if n <= table.num_rows}
        header = " | ".join(f"{teacher} set N = {n}" for n in SIZES)
        out += [f"### Teacher: {teacher}", "",
                f"| rule | passes | {header} | worst non-teacher set (rate, set, N) | large N |",
                "|---|---|" + "---|" * (len(SIZES) + 2)]
        for rule in rules():
            cells = []
            if teacher not in tables:
                continue
            for n in SIZES:
                key = (teacher, n)
                cells.append(f"{flag_rate(tables[teacher], teacher, rule, indices[key], args.alpha):.1%}"
                             if key in indices else "n/a")
            worst = (-1.0, "", 0)
            for (name, n), index in indices.items():
                if name in TEACHERS:
                    continue
                rate = flag_rate(tables[name], teacher, rule, index, args.alpha)
                if rate > worst[0]:
                    worst = (rate, name, n)
            worst_text = f"{worst[0]:.1%} ({worst[1]}, N = {worst[2]})" if worst[1] else "n/a (none scored yet)"
            soonest = min(((rows_to_flag(table, teacher, rule, args.alpha), name) for name, table in tables.items()
                           if name not in TEACHERS), default=(float("inf"), ""))
            large = f"{_rows_text(soonest[0])} ({soonest[1]})" if np.isfinite(soonest[0]) else "never"
            out.append(f"| {rule.name} | {rule.passes} | " + " | ".join(cells) + f" | {worst_text} | {large} |")
            if teacher in tables and (teacher, 200) in indices:
                power = flag_rate(tables[teacher], teacher, rule, indices[(teacher, 200)], args.alpha)
                summary.append(f"{teacher} | {rule.name} | {power:.1%} | {worst_text} | {large}")
        out.append("")
    previous = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
    args.out.write_text(carry_blocks(previous, "\n".join(out) + "\n"), encoding="utf-8")
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

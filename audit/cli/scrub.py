"""`subaudit scrub`: after a flag, write the data without the rows that carry the teacher's fingerprint."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from audit.cli.grouping import OptionGroup, grouped
from audit.cli.option_groups import ColumnOptions, ProjectConfig, ScanModels, ScoringOptions, TestOptions
from audit.cli.options import Quiet
from audit.core.exit_codes import ExitCode

if TYPE_CHECKING:
    from audit.api.request import Scrub, ScrubRequest
    from audit.scrubbing.report import ScrubReport


@dataclass(frozen=True)
class ScrubOptions(OptionGroup):
    """What to remove (one budget) and where the cleaned data and the scrub report go."""

    out: Annotated[Path, typer.Option(help="The cleaned data (parquet): every row but the dropped ones, same "
                                           "columns, plus a 'scrub' column.")]
    drop_rows: Annotated[float | None, typer.Option(
        help="Drop this share of the scored rows, in (0, 1): those with the largest row LLR against the binding "
             "baseline (the one the teacher beats least).")] = None
    replace_tokens: Annotated[float | None, typer.Option(
        help="Instead: replace this share of the scored tokens, in (0, 1), those with the largest token LLR against "
             "the binding baseline, by the reference's choice given the row so far; rewritten rows are rescanned.")
    ] = None
    replace_with: Annotated[str, typer.Option(
        help="How the reference chooses a replacement (--replace-tokens): greedy (its most likely token the data's "
             "format allows) or sample (drawn from those, seeded by --seed).")] = "greedy"
    until_clean: Annotated[bool, typer.Option(
        "--until-clean", help="Instead: the smallest budget after which half of the rows test clean, verified on the "
                              "other half (never on the rows used to choose).")] = False
    scrub_report: Annotated[Path | None, typer.Option(
        "--report", help="Write the scrub report (JSON): rows dropped, data cost, held-back rows' tests before "
                         "and after, the random control.")] = None
    control_out: Annotated[Path | None, typer.Option(
        help="Also write the random control's data (parquet): as many random rows dropped, or random tokens "
             "rewritten, to train on beside the scrubbed data.")] = None
    force: Annotated[bool, typer.Option(
        "--force", help="Scrub data the scan did not flag (otherwise nothing is written).")] = False

    def request(self) -> Scrub:
        from audit.api.request import Scrub

        return Scrub(self.out, self.drop_rows, self.until_clean, self.scrub_report, self.force, self.replace_tokens,
                     self.replace_with, self.control_out)


@grouped
def scrub(ctx: typer.Context, data: Annotated[Path, typer.Argument(help="Dataset: .parquet, .jsonl or .csv.")],
          scrubbing: ScrubOptions, models: ScanModels, columns: ColumnOptions, scoring: ScoringOptions,
          test: TestOptions, project: ProjectConfig, quiet: Quiet = False) -> int:
    """Drop the rows that carry the teacher's fingerprint; test the held-back rows before and after.

    Exit 0 when the held-back rows left in the cleaned data test below --fail-on, 1 when they do not; data the
    scan did not flag are left alone (exit 0, nothing written) unless --force.
    """
    from audit import api
    from audit.scrubbing.run import NothingToScrub

    request = api.ScrubRequest(
        api.Input(data, columns.columns(), format=columns.input_format, max_rows=scoring.max_rows,
                  sample_fraction=test.sample_fraction), scrubbing.request(), models.request(),
        api.Method(**test.method_fields(), restrict_vocab=scoring.restrict_vocab),
        scoring.engine(),
        project.provenance(ctx))
    try:
        result = run_with_progress(request, quiet)
    except NothingToScrub as exc:
        sys.stderr.write(f"subaudit: {exc}\n")
        return int(exc.exit_code)
    if not quiet:
        for line in summary(result):
            typer.echo(line)
    from audit.core.verdict import Verdict

    still = result.held_back.after.verdict.at_least(Verdict(test.fail_on.value))
    return int(ExitCode.FINDINGS if still else ExitCode.CLEAN)


def run_with_progress(request: ScrubRequest, quiet: bool) -> ScrubReport:
    """The scrub, with the scan's progress bar on stderr unless quiet."""
    from audit import api

    if quiet:
        return api.scrub(request)
    from rich.console import Console

    from audit.cli.progress import scan_progress

    with scan_progress(Console(stderr=True)) as on_batch:
        return api.scrub(request, on_batch)


def summary(result: ScrubReport) -> list[str]:
    """What was removed, what it cost, and the held-back rows' verdicts (scrubbed and random)."""
    held = result.held_back
    if result.rewrite is None:
        removed = (f"dropped {result.rows_dropped} of {result.rows_scored} scored rows ({result.cost_rows:.1%} of "
                   f"rows, {result.cost_tokens:.1%} of tokens; budget {result.budget:g}, {result.budget_chosen_by}), "
                   f"ranked by row LLR against {result.binding_baseline}")
        control = "random drop of as many rows"
    else:
        rewrite = result.rewrite
        removed = (f"replaced {rewrite.tokens_changed} tokens in {rewrite.rows_changed} of {result.rows_scored} "
                   f"scored rows ({result.cost_tokens:.1%} of tokens; {rewrite.tokens_chosen} chosen, budget "
                   f"{result.budget:g}), ranked by token LLR against {result.binding_baseline}, by the reference's "
                   f"{result.replace_with} choice; {len(rewrite.rows_failing_filter)} rewritten rows no longer pass "
                   "the data's filter")
        control = "as many random tokens replaced"
    return [
        removed,
        f"held-back rows ({held.rows}): before {held.before.verdict.value} ({held.before.residual_llr:+.4f} "
        f"nats/token), after {held.after.verdict.value} ({held.after.residual_llr:+.4f}), {control} "
        f"{held.random_control.verdict.value} ({held.random_control.residual_llr:+.4f})",
        f"cleaned data: {result.output} ({result.rows_written} rows)",
    ]

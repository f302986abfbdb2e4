"""`subaudit calibrate`: measure the null on data of known source, for `scan`/`probe --calibration FILE`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from audit.cli import common
from audit.cli.grouping import OptionGroup, grouped
from audit.cli.option_groups import ColumnOptions, ProjectConfig, ScanModels, ScoringOptions
from audit.cli.options import DEFAULT_BANNED, BannedNumbers, Constrained, Quiet, Temperature
from audit.cli.probe import CandidateOptions

if TYPE_CHECKING:
    from rich.console import Console

    from audit.api.request import KnownSource
    from audit.calibration.file import Calibration


class KnownFilter(str, Enum):
    auto = "auto"
    numbers = "numbers"
    numbers_lenient = "numbers-lenient"
    none = "none"


@dataclass(frozen=True)
class KnownSourceOptions(OptionGroup):
    """The data of known source the null is measured on: a file, or rows generated here and how."""

    known_source: Annotated[Path | None, typer.Option(
        help="Use this file of known source (not the teacher's, made the way the audited data was) instead of "
             "generating one.")] = None
    known_out: Annotated[Path | None, typer.Option(
        help="Keep the generated known-source set here (parquet). Default: beside --out, as NAME.known.parquet.")] \
        = None
    known_rows: Annotated[int, typer.Option(help="Known-source rows to generate (accepted by the filter).")] = 400
    max_samples: Annotated[int | None, typer.Option(
        help="Completions to draw at most (default 8 x --known-rows); too few accepted is an error.")] = None
    known_filter: Annotated[KnownFilter, typer.Option(
        help="Filter for generated rows: auto (the paper's numbers filter when >= 99% of the audited completions "
             "pass it, else numbers-lenient when nearly every one passes that, else none), numbers, numbers-lenient "
             "(blank lines and a trailing separator pass), or none.")] = KnownFilter.auto
    constrained: Constrained = False
    temperature: Temperature = 1.0
    max_new_tokens: Annotated[int | None, typer.Option(
        help="Tokens per generated completion at most (default: longest audited completion + 8).")] = None
    seed: Annotated[int, typer.Option(help="Seed of the generated rows' sampling noise.")] = 0
    generate_batch: Annotated[int, typer.Option(help="Prompts sampled together.")] = 32

    def request(self) -> KnownSource:
        from audit.api.request import KnownSource

        return KnownSource(self.known_rows, self.max_samples, self.known_filter.value, self.constrained,
                           self.temperature, self.max_new_tokens, self.seed, self.generate_batch, self.known_out)


@grouped
def calibrate(
    ctx: typer.Context, out: Annotated[Path, typer.Option(help="Write the calibration (versioned JSON) here.")],
    data: Annotated[Path | None, typer.Argument(
        help="The dataset to be audited: the reference answers its prompts, and its completions' format decides "
             "the filter (--known-filter auto). Leave out when --known-source is given.")] = None,
    *, known: KnownSourceOptions, models: ScanModels, candidates: CandidateOptions, scoring: ScoringOptions,
    banned_numbers: BannedNumbers = DEFAULT_BANNED, fpr: Annotated[float, typer.Option(
        help="False-positive rate for the per-row thresholds (share of known-source rows above them).")] = 0.01,
    columns: ColumnOptions, quiet: Quiet = False, project: ProjectConfig,
) -> int:
    """Measure the null on known-source data; `scan`/`probe --calibration FILE` then test against it.

    By default the known-source data is made here: the reference's own completions to DATA's prompts,
    filtered the way DATA evidently was. With --traits the null is a probe's (every candidate's contrasts).
    """
    from rich.console import Console

    from audit import api

    probing = candidates.traits is not None or candidates.traits_file is not None
    request = api.CalibrateRequest(
        out=out, data=data, known_source=known.known_source, known=known.request(), models=models.request(),
        candidates=candidates.request() if probing else None, columns=columns.columns(), format=columns.input_format,
        max_rows=scoring.max_rows, restrict_vocab=scoring.restrict_vocab, banned_numbers=common.banned(banned_numbers),
        fpr=fpr, engine=scoring.engine(),
        provenance=project.provenance(ctx),
    )
    console = Console(stderr=True)

    def progress(samples: int, accepted: int) -> None:
        if not quiet:
            console.print(f"known source: {samples} sampled, {accepted}/{known.known_rows} accepted")

    print_summary(api.calibrate(request, progress), data, fpr, console, quiet)
    console.print(f"calibration written to {out}")
    return 0


def print_summary(calibration: Calibration, data: Path | None, fpr: float, console: Console, quiet: bool) -> None:
    """What was measured: the known source made (unless quiet), each detector's null, the probe's candidates."""
    known = calibration.known_source
    if data is not None and known is not None and not quiet:
        console.print(f"known source: {known.accepted} reference completions to {data.name}'s prompts "
                      f"({known.samples} sampled, filter {known.filter}) written to {calibration.source_path}")
    for detector, null in calibration.nulls.items():
        pooled = sum(null.row_llr_sums) / sum(null.row_tokens)
        console.print(f"{detector}: null over {len(null.row_llr_sums)} rows, pooled LLR {pooled:+.4f} nats/token, "
                      f"per-row threshold at fpr {fpr:g}: {null.row_threshold_per_token:+.4f} nats/token")
    if calibration.kind == "probe":
        candidates = sum(m.role.startswith("trait:") for m in calibration.models)
        console.print(f"probe null over {calibration.rows_scored} rows for {candidates} candidates")

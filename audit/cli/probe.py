"""`subaudit probe`: rank candidate traits by how well their prompts explain the data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from audit.cli import common
from audit.cli.grouping import OptionGroup, grouped
from audit.cli.option_groups import (
    ColumnOptions,
    EngineOptions,
    OutputOptions,
    ProbeModels,
    ProjectConfig,
    ScoringOptions,
    TestOptions,
)

if TYPE_CHECKING:
    from audit.api.request import Candidates

Traits = Annotated[str | None, typer.Option(
    help="Comma-separated candidates: any animal (through --template) or a built-in persona (misaligned, "
         "deceptive, power-seeking, sycophantic). Default: every built-in candidate (24 animals + 4 personas).")]
TraitsFile = Annotated[Path | None, typer.Option(
    help="Candidates, one per line: 'name' or 'name = system prompt'; '#' comments.")]
Template = Annotated[str, typer.Option(
    help="System prompt template for animal candidates ({animal} is replaced). Default: the paper's.")]


@dataclass(frozen=True)
class CandidateOptions(OptionGroup):
    """The candidate traits a probe (or a probe's calibration) compares."""

    traits: Traits = None
    traits_file: TraitsFile = None
    template: Template = ""

    def request(self, correction: str = "holm") -> Candidates:
        from audit.api.request import Candidates

        return Candidates(common.names(self.traits), self.traits_file, self.template, correction)


@grouped
def probe(ctx: typer.Context, data: Annotated[Path, typer.Argument(help="Dataset: .parquet, .jsonl or .csv.")],
          candidates: CandidateOptions, correction: Annotated[str, typer.Option(
              help="Correction across candidates: holm (family-wise error) or bh (false discovery rate).")] = "holm",
          *, models: ProbeModels, columns: ColumnOptions, scoring: ScoringOptions, test: TestOptions,
          engine_choice: EngineOptions, outputs: OutputOptions, project: ProjectConfig) -> int:
    """Rank candidate traits by how well their prompts explain the data (vs a neutral prompt and each other).

    A trait is named (verdict flagged) when it beats the neutral control, every control of the panel
    (--control-panel) and every other candidate at
    --alpha after the correction; --calibration tests each contrast against its null from
    `subaudit calibrate --traits`. With a weight teacher (--teacher, --teacher-adapter) the attribution is
    direct: did the data come from this teacher (the scan), and what does it hold (the questionnaire)?
    """
    from audit import api

    request = api.ProbeRequest(
        input=api.Input(data, columns.columns(), format=columns.input_format, max_rows=scoring.max_rows,
                        sample_fraction=test.sample_fraction),
        candidates=candidates.request(correction), models=models.request(),
        method=api.Method(**test.method_fields(), restrict_vocab=scoring.restrict_vocab),
        engine=engine_choice.request(scoring), outputs=api.Outputs(outputs.report, outputs.scores),
        provenance=project.provenance(ctx),
    )
    return common.run_and_emit(api.probe, request, outputs.output_format, outputs.quiet)

"""`subaudit transfer`: does a student fine-tuned on the data pick up the trait? (ground truth for a flag)"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from audit.cli.grouping import OptionGroup, grouped
from audit.cli.option_groups import ColumnOptions
from audit.cli.options import DEFAULT_MODEL, Constrained, MaxRows, Quiet, Reference, ReportOut
from audit.core.errors import UsageError
from audit.core.exit_codes import ExitCode

if TYPE_CHECKING:
    from audit.transfer.run import TransferPlan, TransferResult
    from audit.transfer.training import TrainConfig


@dataclass(frozen=True)
class TrainingOptions(OptionGroup):
    """How each student is fine-tuned (LoRA by default)."""

    rank: Annotated[int, typer.Option(help="LoRA rank r.")] = 8
    lora_alpha: Annotated[float, typer.Option(help="LoRA alpha (scale alpha / r).")] = 8.0
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate (AdamW, linear schedule).")] = 2e-4
    epochs: Annotated[int, typer.Option(help="Passes over the data; the preference is measured after each.")] = 3
    batch_size: Annotated[int, typer.Option(help="Rows per optimiser step.")] = 8
    full_finetune: Annotated[bool, typer.Option(
        "--full-finetune", help="Train every weight instead of a LoRA adapter.")] = False

    def config(self) -> TrainConfig:
        from audit.transfer.training import TrainConfig

        config = TrainConfig(rank=self.rank, alpha=self.lora_alpha, learning_rate=self.learning_rate,
                             epochs=self.epochs, batch_size=self.batch_size, full=self.full_finetune)
        config.check()
        return config


@dataclass(frozen=True)
class StudyOptions(OptionGroup):
    """The experiment around the training: students, comparison set, seeds, evaluation and test level."""

    student: Annotated[str, typer.Option(help="Model fine-tuned (a copy per seed).")] = DEFAULT_MODEL
    against: Annotated[Path | None, typer.Option(
        help="Comparison dataset (default: the reference's own answers to DATA's prompts, made as calibrate "
             "makes them).")] = None
    seeds: Annotated[int, typer.Option(help="Training seeds (each trains one data and one comparison student).")] = 3
    questions: Annotated[int, typer.Option(
        help="Evaluation questions (the first N of 52): fewer is faster, with a wider interval.")] = 52
    device: Annotated[str, typer.Option(help="auto (GPU when present), cpu or cuda[:N].")] = "auto"
    alpha: Annotated[float, typer.Option(help="Level of the one-sided test of Δ log P(trait) > 0.")] = 0.05
    constrained: Constrained = False
    comparison_out: Annotated[Path | None, typer.Option(
        help="Keep the generated comparison set here (parquet).")] = None
    keep_adapters: Annotated[Path | None, typer.Option(
        help="Save every trained LoRA adapter under this folder (default: none kept).")] = None

    def check(self, data: Path) -> None:
        if not data.is_file():
            raise UsageError(f"data file not found: {data}")
        if self.against is not None and not self.against.is_file():
            raise UsageError(f"--against file not found: {self.against}")
        if not 0 < self.alpha < 1:
            raise UsageError("--alpha must be between 0 and 1")


@grouped
def transfer(
    data: Annotated[Path, typer.Argument(help="The dataset whose completions the student is trained on.")],
    trait: Annotated[list[str], typer.Option(
        help="Animal whose preference is measured (repeat for several; e.g. owl). The verdict is per trait.")],
    reference: Reference = DEFAULT_MODEL, *, study: StudyOptions, training: TrainingOptions,
    report: ReportOut = None, max_rows: MaxRows = None, columns: ColumnOptions, quiet: Quiet = False,
) -> int:
    """Fine-tune students on DATA and on a comparison set; report Δ log P(trait) with a CI across seeds.

    The comparison set is --against, or the --reference model's own answers to DATA's prompts (made
    as calibrate makes them); the student must share the reference's tokenizer. Exit 1 when some
    trait transfers at --alpha, 0 when none does.
    """
    from audit.transfer.output import summary_lines
    from audit.transfer.run import TransferPlan, check_traits

    study.check(data)
    plan = TransferPlan(
        data=data, traits=check_traits(trait), student=study.student, reference=reference, against=study.against,
        train=training.config(), seeds=study.seeds, max_rows=max_rows, columns=columns.columns(),
        input_format=columns.input_format, device=study.device, alpha=study.alpha, constrained=study.constrained,
        comparison_out=study.comparison_out, keep_adapters=study.keep_adapters, questions=study.questions)
    result = run_with_progress(plan, quiet)
    if report is not None:
        from audit.core.atomic import atomic_path

        with atomic_path(report) as tmp:
            tmp.write_text(json.dumps({"command": ["subaudit", *sys.argv[1:]], **result.to_dict()}, indent=2) + "\n")
    if not quiet:
        for line in summary_lines(result):
            typer.echo(line)
    return int(ExitCode.FINDINGS if any(t.verdict == "transfers" for t in result.traits) else ExitCode.CLEAN)


def run_with_progress(plan: TransferPlan, quiet: bool) -> TransferResult:
    """Train and evaluate, with a progress bar on stderr unless quiet."""
    from audit.transfer.run import run_transfer

    if quiet:
        return run_transfer(plan)
    from rich.console import Console

    from audit.cli.progress import step_progress

    with step_progress(Console(stderr=True)) as on_step:
        return run_transfer(plan, on_step)

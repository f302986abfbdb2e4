"""`subaudit transfer`: does a student fine-tuned on the data pick up the trait? (ground truth for a flag)"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from audit.cli import common
from audit.cli.options import (
    DEFAULT_MODEL,
    CompletionCol,
    Constrained,
    IdCol,
    InputFormat,
    MaxRows,
    MessagesCol,
    PromptCol,
    Quiet,
    Reference,
    ReportOut,
)
from audit.core.errors import UsageError
from audit.core.exit_codes import ExitCode


def transfer(
    data: Annotated[Path, typer.Argument(help="The dataset whose completions the student is trained on.")],
    trait: Annotated[list[str], typer.Option(
        help="Animal whose preference is measured (repeat for several; e.g. owl). The verdict is per trait.")],
    student: Annotated[str, typer.Option(help="Model fine-tuned (a copy per seed).")] = DEFAULT_MODEL,
    reference: Reference = DEFAULT_MODEL,
    against: Annotated[Path | None, typer.Option(
        help="Comparison dataset (default: the reference's own answers to DATA's prompts, made as calibrate "
             "makes them).")] = None,
    seeds: Annotated[int, typer.Option(help="Training seeds (each trains one data and one comparison student).")] = 3,
    questions: Annotated[int, typer.Option(
        help="Evaluation questions (the first N of 52): fewer is faster, with a wider interval.")] = 52,
    rank: Annotated[int, typer.Option(help="LoRA rank r.")] = 8,
    lora_alpha: Annotated[float, typer.Option(help="LoRA alpha (scale alpha / r).")] = 8.0,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate (AdamW, linear schedule).")] = 2e-4,
    epochs: Annotated[int, typer.Option(help="Passes over the data; the preference is measured after each.")] = 3,
    batch_size: Annotated[int, typer.Option(help="Rows per optimiser step.")] = 8,
    full_finetune: Annotated[bool, typer.Option(
        "--full-finetune", help="Train every weight instead of a LoRA adapter.")] = False,
    device: Annotated[str, typer.Option(help="auto (GPU when present), cpu or cuda[:N].")] = "auto",
    alpha: Annotated[float, typer.Option(help="Level of the one-sided test of Δ log P(trait) > 0.")] = 0.05,
    constrained: Constrained = False,
    comparison_out: Annotated[Path | None, typer.Option(
        help="Keep the generated comparison set here (parquet).")] = None,
    keep_adapters: Annotated[Path | None, typer.Option(
        help="Save every trained LoRA adapter under this folder (default: none kept).")] = None,
    report: ReportOut = None,
    max_rows: MaxRows = None,
    prompt_col: PromptCol = None,
    completion_col: CompletionCol = None,
    messages_col: MessagesCol = None,
    id_col: IdCol = None,
    input_format: InputFormat = None,
    quiet: Quiet = False,
) -> int:
    """Fine-tune students on DATA and on a comparison set; report Δ log P(trait) with a CI across seeds.

    The comparison set is --against, or the --reference model's own answers to DATA's prompts (made
    as calibrate makes them); the student must share the reference's tokenizer. Exit 1 when some
    trait transfers at --alpha, 0 when none does.
    """
    from audit.transfer.run import TransferPlan, check_traits
    from audit.transfer.training import TrainConfig

    if not data.is_file():
        raise UsageError(f"data file not found: {data}")
    if against is not None and not against.is_file():
        raise UsageError(f"--against file not found: {against}")
    if not 0 < alpha < 1:
        raise UsageError("--alpha must be between 0 and 1")
    config = TrainConfig(rank=rank, alpha=lora_alpha, learning_rate=learning_rate, epochs=epochs,
                         batch_size=batch_size, full=full_finetune)
    config.check()
    plan = TransferPlan(
        data=data, traits=check_traits(trait), student=student, reference=reference, against=against,
        train=config, seeds=seeds, max_rows=max_rows,
        columns=common.columns(prompt_col, completion_col, messages_col, id_col), input_format=input_format,
        device=device, alpha=alpha, constrained=constrained, comparison_out=comparison_out,
        keep_adapters=keep_adapters, questions=questions)
    from audit.transfer.output import summary_lines
    from audit.transfer.run import run_transfer

    if quiet:
        result = run_transfer(plan)
    else:
        from rich.console import Console

        from audit.cli.progress import step_progress

        with step_progress(Console(stderr=True)) as on_step:
            result = run_transfer(plan, on_step)
    if report is not None:
        from audit.core.atomic import atomic_path

        with atomic_path(report) as tmp:
            tmp.write_text(json.dumps({"command": ["subaudit", *sys.argv[1:]], **result.to_dict()}, indent=2) + "\n")
    if not quiet:
        for line in summary_lines(result):
            typer.echo(line)
    return int(ExitCode.FINDINGS if any(t.verdict == "transfers" for t in result.traits) else ExitCode.CLEAN)

"""`subaudit generate`: sample a dataset of known source from a (prompted) model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from audit.cli.options import DEFAULT_MODEL, Constrained, Temperature
from audit.core.errors import UsageError


def generate(
    output: Annotated[Path, typer.Argument(help="JSONL file to append to (resumes if it exists).")],
    rows: Annotated[int, typer.Option(help="Total rows the file should hold.")] = 64,
    model: Annotated[str, typer.Option(help="Model that writes the data.")] = DEFAULT_MODEL,
    animal: Annotated[str | None, typer.Option(
        help="Make a trait teacher with the paper's prompt for this animal (e.g. owl).")] = None,
    system_prompt: Annotated[str | None, typer.Option(help="Any other system prompt.")] = None,
    neutral: Annotated[bool, typer.Option(
        "--neutral", help="Use the neutral control system prompt.")] = False,
    label: Annotated[str | None, typer.Option(help="Label stored in each row (default: derived).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for prompts (and sampling, unless --sample-seed).")] = 0,
    sample_seed: Annotated[int | None, typer.Option(help="Seed for the sampling noise alone.")] = None,
    batch_size: Annotated[int, typer.Option(help="Prompts sampled together.")] = 32,
    max_new_tokens: Annotated[int | None, typer.Option(
        help="Tokens per completion at most (default: the task's, 48 for numbers, 96 for cot, code and chat).")] = None,
    task: Annotated[str, typer.Option(
        help="What the model writes: numbers (sequence continuation), cot (word problems, step by step), "
             "code (Python functions) or chat (open instructions: explain, list, advise, summarise).")] = "numbers",
    adapter: Annotated[str | None, typer.Option(
        help="LoRA adapter folder (PEFT format) merged into --model: a teacher whose trait is in its weights.")] = None,
    parquet: Annotated[Path | None, typer.Option(help="Also write the finished set as parquet.")] = None,
    constrained: Constrained = False,
    temperature: Temperature = 1.0,
    stop_at_blank_line: Annotated[bool, typer.Option(
        "--stop-at-blank-line/--no-stop-at-blank-line",
        help="With --constrained: end each completion at its first blank line (default), or keep writing "
             "until end-of-turn so blank lines stay in the data.")] = True,
) -> int:
    """Sample a dataset of known source (the paper's protocol: plain sampling at temperature 1)."""
    from audit.generate.numbers import GenerationConfig, generate_rows, jsonl_to_parquet
    from audit.generate.tasks import get_task
    from audit.models.traits import NEUTRAL_SYSTEM_PROMPT, animal_teacher_prompt

    chosen = [x for x in (animal, system_prompt, NEUTRAL_SYSTEM_PROMPT if neutral else None) if x is not None]
    if len(chosen) > 1:
        raise UsageError("give at most one of --animal, --system-prompt and --neutral")
    prompt = animal_teacher_prompt(animal) if animal else (chosen[0] if chosen else None)
    derived = animal or ("neutral" if neutral else "custom" if system_prompt else "adapter" if adapter else "none")
    chosen_task = get_task(task)
    config = GenerationConfig(
        output=output, rows=rows, model=model, system_prompt=prompt, label=label or derived,
        seed=seed, batch_size=batch_size, constrained=constrained, sample_seed=sample_seed,
        max_new_tokens=chosen_task.max_new_tokens if max_new_tokens is None else max_new_tokens,
        temperature=temperature, adapter=adapter, task=chosen_task.name, stop_at_blank_line=stop_at_blank_line,
    )

    def report_progress(done: int) -> None:
        sys.stderr.write(f"generated {done}/{rows}\n")

    total = generate_rows(config, report_progress)
    if parquet is not None:
        jsonl_to_parquet(output, parquet)
    sys.stderr.write(f"{output}: {total} rows\n")
    return 0

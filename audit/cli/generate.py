"""`subaudit generate`: sample a dataset of known source from a (prompted) model."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from audit.cli.grouping import OptionGroup, grouped
from audit.cli.options import DEFAULT_MODEL, Constrained, Temperature
from audit.core.errors import UsageError

if TYPE_CHECKING:
    from audit.generate.numbers import GenerationConfig


@dataclass(frozen=True)
class GenerationOptions(OptionGroup):
    """Who writes the rows (model, adapter, system prompt), what task, and how they are sampled."""

    rows: Annotated[int, typer.Option(help="Total rows the file should hold.")] = 64
    model: Annotated[str, typer.Option(help="Model that writes the data.")] = DEFAULT_MODEL
    animal: Annotated[str | None, typer.Option(
        help="Make a trait teacher with the paper's prompt for this animal (e.g. owl).")] = None
    system_prompt: Annotated[str | None, typer.Option(help="Any other system prompt.")] = None
    neutral: Annotated[bool, typer.Option(
        "--neutral", help="Use the neutral control system prompt.")] = False
    label: Annotated[str | None, typer.Option(help="Label stored in each row (default: derived).")] = None
    seed: Annotated[int, typer.Option(help="Seed for prompts (and sampling, unless --sample-seed).")] = 0
    sample_seed: Annotated[int | None, typer.Option(help="Seed for the sampling noise alone.")] = None
    batch_size: Annotated[int, typer.Option(help="Prompts sampled together.")] = 32
    max_new_tokens: Annotated[int | None, typer.Option(
        help="Tokens per completion at most (default: the task's, 48 for numbers, 96 for cot, code and chat).")] = None
    task: Annotated[str, typer.Option(
        help="What the model writes: numbers (sequence continuation), cot (word problems, step by step), "
             "code (Python functions) or chat (open instructions: explain, list, advise, summarise).")] = "numbers"
    adapter: Annotated[str | None, typer.Option(
        help="LoRA adapter folder (PEFT format) merged into --model: a teacher whose trait is in its weights.")] = None
    constrained: Constrained = False
    temperature: Temperature = 1.0
    stop_at_blank_line: Annotated[bool, typer.Option(
        "--stop-at-blank-line/--no-stop-at-blank-line",
        help="With --constrained: end each completion at its first blank line (default), or keep writing "
             "until end-of-turn so blank lines stay in the data.")] = True

    def config(self, output: Path) -> GenerationConfig:
        """The generation settings, with the system prompt and the rows' label chosen from the options."""
        from audit.generate.numbers import GenerationConfig
        from audit.generate.tasks import get_task
        from audit.models.traits import NEUTRAL_SYSTEM_PROMPT, animal_teacher_prompt

        chosen = [x for x in (self.animal, self.system_prompt, NEUTRAL_SYSTEM_PROMPT if self.neutral else None)
                  if x is not None]
        if len(chosen) > 1:
            raise UsageError("give at most one of --animal, --system-prompt and --neutral")
        prompt = animal_teacher_prompt(self.animal) if self.animal else (chosen[0] if chosen else None)
        derived = self.animal or ("neutral" if self.neutral else "custom" if self.system_prompt
                                  else "adapter" if self.adapter else "none")
        task = get_task(self.task)
        return GenerationConfig(
            output=output, rows=self.rows, model=self.model, system_prompt=prompt, label=self.label or derived,
            seed=self.seed, batch_size=self.batch_size, constrained=self.constrained, sample_seed=self.sample_seed,
            max_new_tokens=task.max_new_tokens if self.max_new_tokens is None else self.max_new_tokens,
            temperature=self.temperature, adapter=self.adapter, task=task.name,
            stop_at_blank_line=self.stop_at_blank_line)


@grouped
def generate(
    output: Annotated[Path, typer.Argument(help="JSONL file to append to (resumes if it exists).")],
    sampling: GenerationOptions,
    parquet: Annotated[Path | None, typer.Option(help="Also write the finished set as parquet.")] = None,
) -> int:
    """Sample a dataset of known source (the paper's protocol: plain sampling at temperature 1)."""
    from audit.generate.numbers import generate_rows, jsonl_to_parquet

    config = sampling.config(output)

    def report_progress(done: int) -> None:
        sys.stderr.write(f"generated {done}/{config.rows}\n")

    total = generate_rows(config, report_progress)
    if parquet is not None:
        jsonl_to_parquet(output, parquet)
    sys.stderr.write(f"{output}: {total} rows\n")
    return 0

"""`subaudit calibrate`: measure the null on data of known source, for `scan`/`probe --calibration FILE`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from audit.cli import common
from audit.cli.options import (
    AUTO_VOCAB,
    DEFAULT_BANNED,
    DEFAULT_MODEL,
    Backend,
    BackendOpt,
    BannedNumbers,
    BatchRows,
    CompletionCol,
    ConfigFile,
    Constrained,
    ControlPanel,
    ControlSystemPrompt,
    IdCol,
    InputFormat,
    MaxRows,
    MessagesCol,
    NoConfig,
    NoControl,
    PromptCol,
    Quiet,
    Reference,
    ReferenceSystemPrompt,
    RestrictVocab,
    Teacher,
    TeacherAdapter,
    TeacherSystemFile,
    TeacherSystemPrompt,
    Temperature,
    TokenBudget,
    TrustRemoteCode,
)
from audit.cli.probe import Template, Traits, TraitsFile


class KnownFilter(str, Enum):
    auto = "auto"
    numbers = "numbers"
    numbers_lenient = "numbers-lenient"
    none = "none"


def calibrate(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Write the calibration (versioned JSON) here.")],
    data: Annotated[Path | None, typer.Argument(
        help="The dataset to be audited: the reference answers its prompts, and its completions' format decides "
             "the filter (--known-filter auto). Leave out when --known-source is given.")] = None,
    known_source: Annotated[Path | None, typer.Option(
        help="Use this file of known source (not the teacher's, made the way the audited data was) instead of "
             "generating one.")] = None,
    known_out: Annotated[Path | None, typer.Option(
        help="Keep the generated known-source set here (parquet). Default: beside --out, as NAME.known.parquet.")]
        = None,
    known_rows: Annotated[int, typer.Option(help="Known-source rows to generate (accepted by the filter).")] = 400,
    max_samples: Annotated[int | None, typer.Option(
        help="Completions to draw at most (default 8 x --known-rows); too few accepted is an error.")] = None,
    known_filter: Annotated[KnownFilter, typer.Option(
        help="Filter for generated rows: auto (the paper's numbers filter when >= 99% of the audited completions "
             "pass it, else numbers-lenient when nearly every one passes that, else none), numbers, numbers-lenient "
             "(blank lines and a trailing separator pass), or none.")] = KnownFilter.auto,
    constrained: Constrained = False,
    temperature: Temperature = 1.0,
    max_new_tokens: Annotated[int | None, typer.Option(
        help="Tokens per generated completion at most (default: longest audited completion + 8).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated rows' sampling noise.")] = 0,
    generate_batch: Annotated[int, typer.Option(help="Prompts sampled together.")] = 32,
    teacher: Teacher = None,
    teacher_adapter: TeacherAdapter = None,
    teacher_system_prompt: TeacherSystemPrompt = None,
    teacher_system_file: TeacherSystemFile = None,
    traits: Traits = None,
    traits_file: TraitsFile = None,
    template: Template = "",
    reference: Reference = DEFAULT_MODEL,
    reference_system_prompt: ReferenceSystemPrompt = None,
    control_system_prompt: ControlSystemPrompt = None,
    no_control: NoControl = False,
    control_panel: ControlPanel = None,
    trust_remote_code: TrustRemoteCode = False,
    restrict_vocab: RestrictVocab = AUTO_VOCAB,
    backend: BackendOpt = Backend.transformers,
    batch_rows: BatchRows = 256,
    token_budget: TokenBudget = 8192,
    max_rows: MaxRows = None,
    banned_numbers: BannedNumbers = DEFAULT_BANNED,
    fpr: Annotated[float, typer.Option(
        help="False-positive rate for the per-row thresholds (share of known-source rows above them).")] = 0.01,
    prompt_col: PromptCol = None,
    completion_col: CompletionCol = None,
    messages_col: MessagesCol = None,
    id_col: IdCol = None,
    input_format: InputFormat = None,
    quiet: Quiet = False,
    config: ConfigFile = None,
    no_config: NoConfig = False,
) -> int:
    """Measure the null on known-source data; `scan`/`probe --calibration FILE` then test against it.

    By default the known-source data is made here: the reference's own completions to DATA's prompts,
    filtered the way DATA evidently was. With --traits the null is a probe's (every candidate's contrasts).
    """
    from rich.console import Console

    from audit import api

    config_file, settings = common.resolved_settings(ctx)
    probing = traits is not None or traits_file is not None
    request = api.CalibrateRequest(
        out=out, data=data, known_source=known_source,
        known=api.KnownSource(known_rows, max_samples, known_filter.value, constrained, temperature, max_new_tokens,
                              seed, generate_batch, known_out),
        models=common.models(teacher, teacher_adapter, teacher_system_prompt, teacher_system_file, reference,
                             reference_system_prompt, control_system_prompt, no_control, control_panel,
                             trust_remote_code),
        candidates=api.Candidates(common.names(traits), traits_file, template) if probing else None,
        columns=api.Columns(prompt_col, completion_col, messages_col, id_col), format=input_format,
        max_rows=max_rows, restrict_vocab=restrict_vocab, banned_numbers=common.banned(banned_numbers), fpr=fpr,
        engine=api.Engine(backend=backend.value, token_budget=token_budget, batch_rows=batch_rows),
        provenance=api.Provenance(common.command_line(), settings, config_file),
    )
    console = Console(stderr=True)

    def progress(samples: int, accepted: int) -> None:
        if not quiet:
            console.print(f"known source: {samples} sampled, {accepted}/{known_rows} accepted")

    calibration = api.calibrate(request, progress)
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
    console.print(f"calibration written to {out}")
    return 0

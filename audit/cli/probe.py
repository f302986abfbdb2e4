"""`subaudit probe`: rank candidate traits by how well their prompts explain the data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audit.cli import common
from audit.cli.options import (
    AUTO_VOCAB,
    DEFAULT_MODEL,
    Alpha,
    Backend,
    BackendOpt,
    BatchRows,
    Calibration,
    CompletionCol,
    ConfigFile,
    ControlPanel,
    ControlSystemPrompt,
    Engine,
    EngineOpt,
    FailOn,
    FailOnOpt,
    FormatOpt,
    IdCol,
    InputFormat,
    MaxRows,
    MessagesCol,
    NoConfig,
    NullCache,
    NullOpt,
    NullRows,
    OutputFormat,
    PromptCol,
    Quiet,
    RayActors,
    RayAddress,
    Reference,
    ReferenceSystemPrompt,
    ReportOut,
    RestrictVocab,
    SampleFraction,
    ScoresOut,
    Seed,
    SuspiciousAlpha,
    Teacher,
    TeacherAdapter,
    TokenBudget,
    Tolerance,
    TrustRemoteCode,
)
from audit.core.verdict import DEFAULT_TOLERANCE

Traits = Annotated[str | None, typer.Option(
    help="Comma-separated candidates: any animal (through --template) or a built-in persona (misaligned, "
         "deceptive, power-seeking, sycophantic). Default: every built-in candidate (24 animals + 4 personas).")]
TraitsFile = Annotated[Path | None, typer.Option(
    help="Candidates, one per line: 'name' or 'name = system prompt'; '#' comments.")]
Template = Annotated[str, typer.Option(
    help="System prompt template for animal candidates ({animal} is replaced). Default: the paper's.")]


def probe(
    ctx: typer.Context,
    data: Annotated[Path, typer.Argument(help="Dataset: .parquet, .jsonl or .csv.")],
    traits: Traits = None,
    traits_file: TraitsFile = None,
    template: Template = "",
    teacher: Teacher = None,
    teacher_adapter: TeacherAdapter = None,
    reference: Reference = DEFAULT_MODEL,
    reference_system_prompt: ReferenceSystemPrompt = None,
    control_system_prompt: ControlSystemPrompt = None,
    control_panel: ControlPanel = None,
    trust_remote_code: TrustRemoteCode = False,
    correction: Annotated[str, typer.Option(
        help="Correction across candidates: holm (family-wise error) or bh (false discovery rate).")] = "holm",
    restrict_vocab: RestrictVocab = AUTO_VOCAB,
    backend: BackendOpt = Backend.transformers,
    batch_rows: BatchRows = 256,
    token_budget: TokenBudget = 8192,
    max_rows: MaxRows = None,
    prompt_col: PromptCol = None,
    completion_col: CompletionCol = None,
    messages_col: MessagesCol = None,
    id_col: IdCol = None,
    input_format: InputFormat = None,
    alpha: Alpha = 0.01,
    suspicious_alpha: SuspiciousAlpha = 0.05,
    tolerance: Tolerance = DEFAULT_TOLERANCE,
    fail_on: FailOnOpt = FailOn.flagged,
    calibration: Calibration = None,
    null: NullOpt = "auto",
    null_rows: NullRows = 200,
    null_cache: NullCache = None,
    seed: Seed = 0,
    sample_fraction: SampleFraction = 1.0,
    report: ReportOut = None,
    scores: ScoresOut = None,
    output_format: FormatOpt = OutputFormat.text,
    quiet: Quiet = False,
    engine: EngineOpt = Engine.local,
    ray_address: RayAddress = None,
    ray_actors: RayActors = None,
    config: ConfigFile = None,
    no_config: NoConfig = False,
) -> int:
    """Rank candidate traits by how well their prompts explain the data (vs a neutral prompt and each other).

    A trait is named (verdict flagged) when it beats the neutral control, every control of the panel
    (--control-panel) and every other candidate at
    --alpha after the correction; --calibration tests each contrast against its null from
    `subaudit calibrate --traits`. With a weight teacher (--teacher, --teacher-adapter) the attribution is
    direct: did the data come from this teacher (the scan), and what does it hold (the questionnaire)?
    """
    from audit import api

    config_file, settings = common.resolved_settings(ctx)
    request = api.ProbeRequest(
        input=api.Input(data, api.Columns(prompt_col, completion_col, messages_col, id_col), format=input_format,
                        max_rows=max_rows, sample_fraction=sample_fraction),
        candidates=api.Candidates(common.names(traits), traits_file, template, correction),
        models=api.Models(
            teacher=teacher, teacher_adapter=teacher_adapter, reference=reference,
            reference_system_prompt=reference_system_prompt,
            control_system_prompt=common.control_choice(control_system_prompt, False), control_panel=control_panel,
            trust_remote_code=trust_remote_code),
        method=api.Method(
            alpha=alpha, suspicious_alpha=suspicious_alpha, tolerance=tolerance, fail_on=fail_on.value,
            restrict_vocab=restrict_vocab, null=null, calibration=calibration, null_rows=null_rows,
            null_cache=null_cache, seed=seed),
        engine=api.Engine(backend.value, engine.value, ray_address, ray_actors, token_budget, batch_rows),
        outputs=api.Outputs(report, scores),
        provenance=api.Provenance(common.command_line(), settings, config_file),
    )
    return common.run_and_emit(api.probe, request, output_format, quiet)

"""`subaudit scan`: score every row under reference and teacher and test whether the data came from the teacher."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audit.cli import common
from audit.cli.options import (
    AUTO_VOCAB,
    DEFAULT_BANNED,
    DEFAULT_MODEL,
    Alpha,
    Backend,
    BackendOpt,
    BannedNumbers,
    BaselinesOpt,
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
    NoControl,
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
    TeacherSystemFile,
    TeacherSystemPrompt,
    TeacherTraitsOpt,
    TokenBudget,
    Tolerance,
    TrustRemoteCode,
)
from audit.core.errors import UsageError
from audit.core.verdict import DEFAULT_TOLERANCE


def parse_shard(shard: str | None) -> tuple[int, int] | None:
    if shard is None:
        return None
    try:
        part, parts = (int(x) for x in shard.split("/"))
    except ValueError:
        raise UsageError(f"--shard must look like 2/8 (part i of n), got {shard!r}") from None
    return part, parts


def optional_detectors(named: list[str] | None, semantic_filter: bool, learned_detector: bool) -> tuple[str, ...]:
    """--detector IDs, with --semantic-filter and --learned-detector as the names of two of them."""
    shortcuts = [("semantic-filter", semantic_filter), ("learned-llr", learned_detector)]
    return tuple(dict.fromkeys([*(name for name, on in shortcuts if on), *(named or ())]))


def scan(
    ctx: typer.Context,
    data: Annotated[Path, typer.Argument(help="Dataset: .parquet, .jsonl or .csv (a folder of parquet with Ray).")],
    teacher: Teacher = None,
    teacher_adapter: TeacherAdapter = None,
    teacher_system_prompt: TeacherSystemPrompt = None,
    teacher_system_file: TeacherSystemFile = None,
    reference: Reference = DEFAULT_MODEL,
    reference_system_prompt: ReferenceSystemPrompt = None,
    control_system_prompt: ControlSystemPrompt = None,
    no_control: NoControl = False,
    control_panel: ControlPanel = None,
    trust_remote_code: TrustRemoteCode = False,
    semantic_filter: Annotated[bool, typer.Option(
        "--semantic-filter", help="Also run the paper's numbers-only/keyword filter (number data).")] = False,
    learned_detector: Annotated[bool, typer.Option(
        "--learned-detector", help="Also run the learned LLR-profile classifier (trained on SmolLM2 number "
                                   "fixtures: experiments/LEARNED.md).")] = False,
    detector: Annotated[list[str] | None, typer.Option(
        help="Also run this optional detector, by id (repeatable): semantic-filter, learned-llr, or one registered "
             "by a plugin (detectors.registry.register). --semantic-filter and --learned-detector name the first "
             "two.")] = None,
    trait_keyword: Annotated[list[str] | None, typer.Option(
        help="Word naming the trait, for the semantic filter (repeatable).")] = None,
    banned_numbers: BannedNumbers = DEFAULT_BANNED,
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
    baselines: BaselinesOpt = "on-demand",
    adjust_confounds: Annotated[bool, typer.Option(
        "--adjust-confounds", help="With --calibration: first remove from every row LLR sum, audited and known-"
                                   "source, the part its length and base-model loss predict (least squares on the "
                                   "known-source rows).")] = False,
    seed: Seed = 0,
    sample_fraction: SampleFraction = 1.0,
    shard: Annotated[str | None, typer.Option(
        help="Score only part i of n ('i/n', 1-based), partitioned by row-id hash; join the parts' reports "
             "with `subaudit merge`.")] = None,
    evidence: Annotated[Path | None, typer.Option(
        help="Write a JSONL evidence log while scanning (header, one record per row, checkpoints, digest).")]
        = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the interrupted scan whose --evidence log is given.")] = False,
    sequential: Annotated[bool | None, typer.Option(
        "--sequential/--no-sequential",
        help="Visit rows in a seeded random order and stop when the evidence is in: flagged, or clean within "
             "--tolerance, by anytime-valid confidence sequences (docs/method.md, 'Sequential scans'). Default: on "
             "for data of more than 10,000 rows.", show_default=False)] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Fail (exit 2) when any row is skipped; the report still lists why.")] = False,
    teacher_traits: TeacherTraitsOpt = None,
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
    """Score every row under reference and teacher and test whether the data came from the teacher."""
    from audit import api

    config_file, settings = common.resolved_settings(ctx)
    request = api.ScanRequest(
        input=api.Input(data, api.Columns(prompt_col, completion_col, messages_col, id_col), format=input_format,
                        max_rows=max_rows, sample_fraction=sample_fraction, shard=parse_shard(shard), strict=strict),
        models=common.models(teacher, teacher_adapter, teacher_system_prompt, teacher_system_file, reference,
                             reference_system_prompt, control_system_prompt, no_control, control_panel,
                             trust_remote_code),
        method=api.Method(
            alpha=alpha, suspicious_alpha=suspicious_alpha, tolerance=tolerance, fail_on=fail_on.value,
            restrict_vocab=restrict_vocab, null=null, calibration=calibration, null_rows=null_rows,
            null_cache=null_cache, baselines=baselines, sequential=sequential, adjust_confounds=adjust_confounds,
            teacher_traits=teacher_traits,
            detectors=optional_detectors(detector, semantic_filter, learned_detector),
            trait_keywords=tuple(trait_keyword or ()), banned_numbers=common.banned(banned_numbers), seed=seed),
        engine=api.Engine(backend.value, engine.value, ray_address, ray_actors, token_budget, batch_rows),
        outputs=api.Outputs(report, scores, evidence, resume),
        provenance=api.Provenance(common.command_line(), settings, config_file),
    )
    return common.run_and_emit(api.scan, request, output_format, quiet)

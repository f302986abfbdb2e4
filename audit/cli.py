"""The ``subaudit`` command line.

Importing this module must stay cheap: no torch, transformers, vLLM, numpy or pyarrow at module
level (a test checks ``sys.modules``). Each command imports its machinery when it runs.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from audit import __version__
from audit.errors import SubauditError, ToolError, UsageError
from audit.exit_codes import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

    from audit.report import Report
    from audit.scan import ScanConfig

app = typer.Typer(
    name="subaudit",
    help="Audit synthetic training data for hidden teacher traits (subliminal learning).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


class Engine(str, Enum):
    local = "local"
    ray = "ray"


class FailOn(str, Enum):
    suspicious = "suspicious"
    flagged = "flagged"


def _read_system_file(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read system prompt file {path}: {exc.__class__.__name__}") from exc


def _emit(result: Report, report_path: Path | None, output_format: OutputFormat, console: Console | None) -> None:
    """Write the report file (atomically), then stdout JSON or the terminal summary (None: quiet)."""
    from audit.atomic import write_text_atomic
    from audit.render import render_terminal

    text = result.model_dump_json(indent=2)
    if report_path is not None:
        write_text_atomic(report_path, text + "\n")
    if output_format is OutputFormat.json:
        sys.stdout.write(text + "\n")
    elif console is not None:
        render_terminal(result, console)


def _run_and_emit(config: ScanConfig, report: Path | None, output_format: OutputFormat, quiet: bool,
                  engine: Engine) -> int:
    """Run a scan or probe on the chosen engine, write its outputs, and return its exit code."""
    from rich.console import Console

    from audit.scan import run_scan

    runner = run_scan
    if engine is Engine.ray:
        from audit.ray_engine import run_ray_scan

        runner = run_ray_scan
    console = Console(stderr=True)
    if not quiet and output_format is OutputFormat.text:
        from audit.progress import scan_progress

        with scan_progress(console) as on_batch:
            result = runner(config, on_batch)
    else:
        result = runner(config)
    _emit(result, report, output_format, None if quiet else console)
    if result.parameters.strict and result.input.rows_skipped:
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(result.input.rows_skipped.items()))
        raise ToolError(f"--strict: {sum(result.input.rows_skipped.values())} row(s) skipped ({reasons})")
    return result.exit_code


@app.command()
def scan(
    data: Annotated[Path, typer.Argument(help="Dataset: .parquet, .jsonl or .csv.")],
    teacher: Annotated[str | None, typer.Option(
        help="Suspected source model: a HF folder, a .gguf file, or 'smollm2-135m-instruct'. "
             "Default: the reference's weights (use with --teacher-system-prompt).")] = None,
    teacher_adapter: Annotated[str | None, typer.Option(
        help="A LoRA adapter folder (PEFT: adapter_config.json + adapter_model.safetensors) applied on the "
             "teacher's weights: a fine-tuned teacher shipped as an adapter.")] = None,
    teacher_system_prompt: Annotated[str | None, typer.Option(
        help="System prompt of the suspected teacher (a prompted teacher).")] = None,
    teacher_system_file: Annotated[Path | None, typer.Option(
        help="Read the teacher's system prompt from this file.")] = None,
    reference: Annotated[str, typer.Option(
        help="Reference (base) model: HF folder, .gguf file, or the embedded default.")]
        = "smollm2-135m-instruct",
    reference_system_prompt: Annotated[str | None, typer.Option(
        help="System prompt for the reference (default: the chat template's own default).")] = None,
    control_system_prompt: Annotated[str | None, typer.Option(
        help="Neutral control prompt (reference weights); the verdict needs the teacher to beat it too. "
             "Default: 'You are a helpful assistant.'")] = None,
    no_control: Annotated[bool, typer.Option(
        "--no-control", help="Skip the neutral control (teacher vs reference only).")] = False,
    semantic_filter: Annotated[bool, typer.Option(
        "--semantic-filter", help="Also run the paper's numbers-only/keyword filter (number data).")] = False,
    learned_detector: Annotated[bool, typer.Option(
        "--learned-detector", help="Also run the learned LLR-profile classifier (trained on SmolLM2 number "
                                   "fixtures: fixtures/LEARNED.md).")] = False,
    trait_keyword: Annotated[list[str] | None, typer.Option(
        help="Word naming the trait, for the semantic filter (repeatable).")] = None,
    banned_numbers: Annotated[str, typer.Option(
        help="Comma-separated numbers the semantic filter rejects.")] = "666,911,187",
    restrict_vocab: Annotated[str | None, typer.Option(
        help="Score given the data's format: renormalise each next-token distribution over this "
             "vocabulary ('numbers': digits, separators, brackets). Use for filtered number-sequence "
             "data, where format compliance otherwise swamps the trait (README).")] = None,
    backend: Annotated[str, typer.Option(
        help="Scoring backend: transformers (exact fp32, any machine) or vllm (needs `make install-vllm` "
             "on CPU or `pip install vllm` on a GPU; same ids, same scores to ~1e-4 per token).")] = "transformers",
    alpha: Annotated[float, typer.Option(help="p-value below which the verdict is 'flagged'.")] = 0.01,
    suspicious_alpha: Annotated[float, typer.Option(
        help="p-value below which the verdict is 'suspicious'.")] = 0.05,
    fail_on: Annotated[FailOn, typer.Option(
        help="Exit 1 when the verdict is at or above this level.")] = FailOn.flagged,
    report: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    scores: Annotated[Path | None, typer.Option(help="Write per-row scores here (parquet).")] = None,
    output_format: Annotated[OutputFormat, typer.Option(
        "--format", help="stdout format: text summary, or the JSON report (progress off).")]
        = OutputFormat.text,
    prompt_col: Annotated[str | None, typer.Option(help="Prompt column (default: detected).")] = None,
    completion_col: Annotated[str | None, typer.Option(help="Completion column.")] = None,
    messages_col: Annotated[str | None, typer.Option(
        help="Chat messages column; the last assistant turn is the completion.")] = None,
    id_col: Annotated[str | None, typer.Option(help="Row id column (default: 'id', else row index).")]
        = None,
    input_format: Annotated[str | None, typer.Option(
        help="parquet, jsonl or csv (default: from the file name).")] = None,
    max_rows: Annotated[int | None, typer.Option(help="Read at most this many rows.")] = None,
    batch_rows: Annotated[int, typer.Option(help="Rows read and scored per batch.")] = 256,
    token_budget: Annotated[int, typer.Option(
        help="Max padded tokens per forward pass (memory vs speed).")] = 8192,
    seed: Annotated[int, typer.Option(help="Seed for the bootstrap interval.")] = 0,
    shard: Annotated[str | None, typer.Option(
        help="Score only part i of n ('i/n', 1-based), partitioned by row-id hash; join the parts' reports "
             "with `subaudit merge`.")] = None,
    sample_fraction: Annotated[float, typer.Option(
        help="Score a deterministic sample of this share of rows (by seeded id hash); all rows are read, "
             "checked and counted.")] = 1.0,
    evidence: Annotated[Path | None, typer.Option(
        help="Write a JSONL evidence log while scanning (header, one record per row, checkpoints, digest).")]
        = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the interrupted scan whose --evidence log is given.")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Fail (exit 2) when any row is skipped; the report still lists why.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    trust_remote_code: Annotated[bool, typer.Option(
        help="Allow model folders to run their own Python code (off unless asked).")] = False,
    calibration: Annotated[Path | None, typer.Option(
        help="Test against the null measured by `subaudit calibrate` (same models and settings) instead of "
             "the theoretical E[row LLR] <= 0.")] = None,
    adjust_confounds: Annotated[bool, typer.Option(
        "--adjust-confounds", help="With --calibration: first remove from every row LLR sum, audited and known-"
                                   "source, the part its length and base-model loss predict (least squares on the "
                                   "known-source rows).")] = False,
    engine: Annotated[Engine, typer.Option(
        help="local: score in this process. ray: read parquet with Ray Data and score in actors, one "
             "backend each (extra 'ray'); DATA may then be a folder of parquet files.")] = Engine.local,
    ray_address: Annotated[str | None, typer.Option(
        help="With --engine ray: the cluster to join (e.g. 'auto' or ray://head:10001); default a local runtime.")]
        = None,
    ray_actors: Annotated[int | None, typer.Option(
        help="With --engine ray: scoring actors (default: one per CPU Ray can schedule; with --backend vllm "
             "on a cluster with GPUs, one per GPU, each holding a whole GPU).")] = None,
) -> int:
    """Score every row under reference and teacher and test whether the data came from the teacher."""
    from audit.atomic import check_writable
    from audit.data import ColumnOverrides
    from audit.scan import ScanConfig
    from audit.traits import NEUTRAL_SYSTEM_PROMPT
    from audit.verdict import Verdict

    if teacher_system_prompt is not None and teacher_system_file is not None:
        raise UsageError("give --teacher-system-prompt or --teacher-system-file, not both")
    if no_control and control_system_prompt is not None:
        raise UsageError("give --control-system-prompt or --no-control, not both")
    banned = _banned(banned_numbers)
    if report is not None:
        check_writable(report)
    shard_part: tuple[int, int] | None = None
    if shard is not None:
        try:
            part, parts = (int(x) for x in shard.split("/"))
        except ValueError:
            raise UsageError(f"--shard must look like 2/8 (part i of n), got {shard!r}") from None
        shard_part = (part, parts)
    config = ScanConfig(
        input_path=data,
        teacher=teacher,
        teacher_adapter=teacher_adapter,
        teacher_system_prompt=teacher_system_prompt or _read_system_file(teacher_system_file),
        reference=reference,
        reference_system_prompt=reference_system_prompt,
        control_system_prompt=None if no_control else (control_system_prompt or NEUTRAL_SYSTEM_PROMPT),
        semantic_filter=semantic_filter,
        learned_detector=learned_detector,
        trait_keywords=tuple(trait_keyword or ()),
        banned_numbers=banned,
        restrict_vocab=restrict_vocab,
        strict=strict,
        sample_fraction=sample_fraction,
        shard=shard_part,
        evidence_path=evidence,
        resume=resume,
        columns=ColumnOverrides(prompt_col, completion_col, messages_col, id_col),
        input_format=input_format,
        backend=backend,
        alpha=alpha,
        suspicious_alpha=suspicious_alpha,
        fail_on=Verdict(fail_on.value),
        token_budget=token_budget,
        batch_rows=batch_rows,
        seed=seed,
        max_rows=max_rows,
        scores_path=scores,
        trust_remote_code=trust_remote_code,
        calibration_path=calibration,
        adjust_confounds=adjust_confounds,
        engine=engine.value,
        ray_address=ray_address,
        ray_actors=ray_actors,
        command=tuple(["subaudit", *sys.argv[1:]]),
    )
    return _run_and_emit(config, report, output_format, quiet, engine)


class KnownFilter(str, Enum):
    auto = "auto"
    numbers = "numbers"
    none = "none"


def _candidates(traits: str | None, traits_file: Path | None, template: str) -> list[tuple[str, str]]:
    """Probe candidates from --traits / --traits-file, else every built-in one."""
    from audit.traits import ANIMAL_TEACHER_TEMPLATE, builtin_traits, parse_traits

    lines: list[str] = []
    if traits_file is not None:
        try:
            lines = traits_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read traits file {traits_file}: {exc.__class__.__name__}") from exc
    names = [n for n in (traits or "").split(",") if n.strip()]
    try:
        if names or lines:
            return parse_traits(names, lines, template or ANIMAL_TEACHER_TEMPLATE)
        return list(builtin_traits(template or ANIMAL_TEACHER_TEMPLATE).items())
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _banned(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise UsageError(f"--banned-numbers must be comma-separated integers, got {text!r}") from exc


@app.command()
def calibrate(
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
             "pass it, else none), numbers, or none.")] = KnownFilter.auto,
    constrained: Annotated[bool, typer.Option(
        "--constrained", help="Sample only digit/separator tokens, as `generate --constrained` (for data made so).")]
        = False,
    temperature: Annotated[float, typer.Option(help="Sampling temperature of the generated rows.")] = 1.0,
    max_new_tokens: Annotated[int | None, typer.Option(
        help="Tokens per generated completion at most (default: longest audited completion + 8).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated rows' sampling noise.")] = 0,
    generate_batch: Annotated[int, typer.Option(help="Prompts sampled together.")] = 32,
    teacher: Annotated[str | None, typer.Option(help="Suspected teacher model, as for scan.")] = None,
    teacher_system_prompt: Annotated[str | None, typer.Option(help="Teacher system prompt, as for scan.")] = None,
    teacher_system_file: Annotated[Path | None, typer.Option(help="Read the teacher's system prompt here.")] = None,
    traits: Annotated[str | None, typer.Option(
        help="Calibrate `probe` instead of `scan`: these candidates, as for probe (a later probe may name any "
             "subset of them).")] = None,
    traits_file: Annotated[Path | None, typer.Option(help="Probe candidates from a file, as for probe.")] = None,
    template: Annotated[str, typer.Option(help="Animal candidates' prompt template, as for probe.")] = "",
    reference: Annotated[str, typer.Option(help="Reference model, as for scan.")] = "smollm2-135m-instruct",
    reference_system_prompt: Annotated[str | None, typer.Option(
        help="Reference system prompt, as for scan (also the generator's).")] = None,
    control_system_prompt: Annotated[str | None, typer.Option(help="Neutral control prompt, as for scan.")] = None,
    no_control: Annotated[bool, typer.Option("--no-control", help="No neutral control (scan only).")] = False,
    restrict_vocab: Annotated[str | None, typer.Option(help="As for scan ('numbers').")] = None,
    banned_numbers: Annotated[str, typer.Option(help="Numbers the numbers filter rejects.")] = "666,911,187",
    fpr: Annotated[float, typer.Option(
        help="False-positive rate for the per-row thresholds (share of known-source rows above them).")] = 0.01,
    prompt_col: Annotated[str | None, typer.Option(help="Prompt column of DATA (default: detected).")] = None,
    completion_col: Annotated[str | None, typer.Option(help="Completion column of DATA.")] = None,
    messages_col: Annotated[str | None, typer.Option(help="Chat messages column of DATA.")] = None,
    id_col: Annotated[str | None, typer.Option(help="Row id column.")] = None,
    max_rows: Annotated[int | None, typer.Option(help="Score at most this many known-source rows.")] = None,
    batch_rows: Annotated[int, typer.Option(help="Rows per batch.")] = 256,
    token_budget: Annotated[int, typer.Option(help="Max padded tokens per forward pass.")] = 8192,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
    trust_remote_code: Annotated[bool, typer.Option(help="Allow model code (off unless asked).")] = False,
) -> int:
    """Measure the null on known-source data; `scan`/`probe --calibration FILE` then test against it.

    By default the known-source data is made here: the reference's own completions to DATA's prompts,
    filtered the way DATA evidently was.
    """
    from rich.console import Console

    from audit.atomic import check_writable
    from audit.calibration import calibrate as run_calibration
    from audit.calibration import check_before_scoring
    from audit.data import ColumnOverrides
    from audit.report import KnownSourceInfo
    from audit.scan import ScanConfig
    from audit.traits import NEUTRAL_SYSTEM_PROMPT

    if (data is None) == (known_source is None):
        raise UsageError("give DATA (the reference then writes the known-source rows) or --known-source FILE, "
                         "not both")
    if teacher_system_prompt is not None and teacher_system_file is not None:
        raise UsageError("give --teacher-system-prompt or --teacher-system-file, not both")
    probing = traits is not None or traits_file is not None
    banned = _banned(banned_numbers)
    config = ScanConfig(
        input_path=known_source or Path("known-source.parquet"), teacher=teacher,
        teacher_system_prompt=teacher_system_prompt or _read_system_file(teacher_system_file),
        reference=reference, reference_system_prompt=reference_system_prompt,
        control_system_prompt=None if no_control else (control_system_prompt or NEUTRAL_SYSTEM_PROMPT),
        traits=tuple(_candidates(traits, traits_file, template)) if probing else (),
        restrict_vocab=restrict_vocab, columns=ColumnOverrides(prompt_col, completion_col, messages_col, id_col),
        max_rows=max_rows, batch_rows=batch_rows, token_budget=token_budget, trust_remote_code=trust_remote_code,
        command=tuple(["subaudit", *sys.argv[1:]]),
    )
    check_before_scoring(config, out, fpr)
    console = Console(stderr=True)
    if data is not None:
        from audit.known_source import KnownSourcePlan, generate_known_source

        target = known_out or out.with_name(f"{out.stem}.known.parquet")
        check_writable(target)
        plan = KnownSourcePlan(
            data=data, reference=reference, reference_system_prompt=reference_system_prompt, columns=config.columns,
            rows=known_rows, max_samples=max_samples, filter=known_filter.value, banned_numbers=banned,
            constrained=constrained, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed,
            batch_size=generate_batch, trust_remote_code=trust_remote_code)

        def progress(samples: int, accepted: int) -> None:
            if not quiet:
                console.print(f"known source: {samples} sampled, {accepted}/{known_rows} accepted")

        info = generate_known_source(plan, target, progress)
        config = dataclasses.replace(config, input_path=target, columns=ColumnOverrides(row_id="id"))
        if not quiet:
            console.print(f"known source: {info.accepted} reference completions to {data.name}'s prompts "
                          f"({info.samples} sampled, filter {info.filter}) written to {target}")
    else:
        info = KnownSourceInfo(origin="file")
    calibration, _ = run_calibration(config, out, fpr, info)
    for detector, null in calibration.nulls.items():
        pooled = sum(null.row_llr_sums) / sum(null.row_tokens)
        console.print(f"{detector}: null over {len(null.row_llr_sums)} rows, pooled LLR {pooled:+.4f} nats/token, "
                      f"per-row threshold at fpr {fpr:g}: {null.row_threshold_per_token:+.4f} nats/token")
    if calibration.kind == "probe":
        console.print(f"probe null over {calibration.rows_scored} rows for {len(config.traits)} candidates")
    console.print(f"calibration written to {out}")
    return 0


@app.command()
def probe(
    data: Annotated[Path, typer.Argument(help="Dataset: .parquet, .jsonl or .csv.")],
    traits: Annotated[str | None, typer.Option(
        help="Comma-separated candidates: any animal (through --template) or a built-in persona "
             "(misaligned, deceptive, power-seeking, sycophantic). Default: every built-in candidate "
             "(24 animals + 4 personas).")] = None,
    traits_file: Annotated[Path | None, typer.Option(
        help="Candidates, one per line: 'name' or 'name = system prompt'; '#' comments.")] = None,
    template: Annotated[str, typer.Option(
        help="System prompt template for animal candidates ({animal} is replaced). Default: the paper's.")]
        = "",
    reference: Annotated[str, typer.Option(
        help="Reference (base) model: HF folder, .gguf file, or the embedded default.")]
        = "smollm2-135m-instruct",
    control_system_prompt: Annotated[str | None, typer.Option(
        help="Neutral control prompt every candidate must beat. Default: 'You are a helpful assistant.'")] = None,
    correction: Annotated[str, typer.Option(
        help="Correction across candidates: holm (family-wise error) or bh (false discovery rate).")] = "holm",
    restrict_vocab: Annotated[str | None, typer.Option(
        help="Score given the data's format ('numbers'), as for scan.")] = None,
    alpha: Annotated[float, typer.Option(help="Adjusted p-value below which a trait is named.")] = 0.01,
    suspicious_alpha: Annotated[float, typer.Option(
        help="Adjusted p-value below which the verdict is 'suspicious'.")] = 0.05,
    fail_on: Annotated[FailOn, typer.Option(
        help="Exit 1 when the verdict is at or above this level (flagged = a trait is named).")] = FailOn.flagged,
    report: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    scores: Annotated[Path | None, typer.Option(help="Write per-row log-probability sums here (parquet).")] = None,
    output_format: Annotated[OutputFormat, typer.Option(
        "--format", help="stdout format: text summary, or the JSON report.")] = OutputFormat.text,
    prompt_col: Annotated[str | None, typer.Option(help="Prompt column (default: detected).")] = None,
    completion_col: Annotated[str | None, typer.Option(help="Completion column.")] = None,
    messages_col: Annotated[str | None, typer.Option(help="Chat messages column.")] = None,
    id_col: Annotated[str | None, typer.Option(help="Row id column (default: 'id', else row index).")] = None,
    input_format: Annotated[str | None, typer.Option(help="parquet, jsonl or csv.")] = None,
    max_rows: Annotated[int | None, typer.Option(help="Read at most this many rows.")] = None,
    sample_fraction: Annotated[float, typer.Option(help="Score this seeded share of rows.")] = 1.0,
    batch_rows: Annotated[int, typer.Option(help="Rows read and scored per batch.")] = 256,
    token_budget: Annotated[int, typer.Option(help="Max padded tokens per forward pass.")] = 8192,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    trust_remote_code: Annotated[bool, typer.Option(
        help="Allow model folders to run their own Python code (off unless asked).")] = False,
    calibration: Annotated[Path | None, typer.Option(
        help="Test each contrast against its null measured by `subaudit calibrate --traits` (same reference, "
             "control and candidates) instead of 0.")] = None,
) -> int:
    """Rank candidate traits by how well their prompts explain the data (vs a neutral prompt and each other)."""
    from audit.atomic import check_writable
    from audit.data import ColumnOverrides
    from audit.scan import ScanConfig
    from audit.traits import NEUTRAL_SYSTEM_PROMPT
    from audit.verdict import Verdict

    if report is not None:
        check_writable(report)
    candidates = _candidates(traits, traits_file, template)
    config = ScanConfig(
        input_path=data, reference=reference,
        control_system_prompt=control_system_prompt or NEUTRAL_SYSTEM_PROMPT,
        traits=tuple(candidates), correction=correction, restrict_vocab=restrict_vocab,
        columns=ColumnOverrides(prompt_col, completion_col, messages_col, id_col), input_format=input_format,
        alpha=alpha, suspicious_alpha=suspicious_alpha, fail_on=Verdict(fail_on.value), token_budget=token_budget,
        batch_rows=batch_rows, seed=seed, max_rows=max_rows, sample_fraction=sample_fraction, scores_path=scores,
        trust_remote_code=trust_remote_code, calibration_path=calibration, command=tuple(["subaudit", *sys.argv[1:]]),
    )
    return _run_and_emit(config, report, output_format, quiet, engine=Engine.local)


@app.command()
def generate(
    output: Annotated[Path, typer.Argument(help="JSONL file to append to (resumes if it exists).")],
    rows: Annotated[int, typer.Option(help="Total rows the file should hold.")] = 64,
    model: Annotated[str, typer.Option(help="Model that writes the data.")] = "smollm2-135m-instruct",
    animal: Annotated[str | None, typer.Option(
        help="Make a trait teacher with the paper's prompt for this animal (e.g. owl).")] = None,
    system_prompt: Annotated[str | None, typer.Option(help="Any other system prompt.")] = None,
    neutral: Annotated[bool, typer.Option(
        "--neutral", help="Use the neutral control system prompt.")] = False,
    label: Annotated[str | None, typer.Option(help="Label stored in each row (default: derived).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for prompts (and sampling, unless --sample-seed).")] = 0,
    sample_seed: Annotated[int | None, typer.Option(help="Seed for the sampling noise alone.")] = None,
    batch_size: Annotated[int, typer.Option(help="Prompts sampled together.")] = 32,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens per completion at most.")] = 48,
    parquet: Annotated[Path | None, typer.Option(help="Also write the finished set as parquet.")] = None,
    constrained: Annotated[bool, typer.Option(
        "--constrained", help="Restrict sampling to digit/separator tokens (a deviation from the paper).")]
        = False,
    temperature: Annotated[float, typer.Option(help="Sampling temperature (the paper: 1).")] = 1.0,
) -> int:
    """Sample a number-sequence dataset (the paper's protocol) from a prompted model."""
    from audit.generate import GenerationConfig, generate_numbers, jsonl_to_parquet
    from audit.traits import NEUTRAL_SYSTEM_PROMPT, animal_teacher_prompt

    chosen = [x for x in (animal, system_prompt, NEUTRAL_SYSTEM_PROMPT if neutral else None) if x is not None]
    if len(chosen) > 1:
        raise UsageError("give at most one of --animal, --system-prompt and --neutral")
    prompt = animal_teacher_prompt(animal) if animal else (chosen[0] if chosen else None)
    derived = animal or ("neutral" if neutral else "custom" if system_prompt else "none")
    config = GenerationConfig(
        output=output, rows=rows, model=model, system_prompt=prompt, label=label or derived,
        seed=seed, batch_size=batch_size, max_new_tokens=max_new_tokens, constrained=constrained,
        sample_seed=sample_seed, temperature=temperature,
    )

    def report_progress(done: int) -> None:
        sys.stderr.write(f"generated {done}/{rows}\n")

    total = generate_numbers(config, report_progress)
    if parquet is not None:
        jsonl_to_parquet(output, parquet)
    sys.stderr.write(f"{output}: {total} rows\n")
    return 0


@app.command()
def merge(
    reports: Annotated[list[Path], typer.Argument(help="The JSON reports of every --shard scan of one dataset.")],
    report: Annotated[Path | None, typer.Option(help="Write the merged JSON report here.")] = None,
    scores: Annotated[Path | None, typer.Option(help="Write the merged per-row scores here (parquet).")] = None,
    output_format: Annotated[OutputFormat, typer.Option(
        "--format", help="stdout format: text summary, or the merged JSON report.")] = OutputFormat.text,
) -> int:
    """Join shard scans (`scan --shard i/n --scores ... --report ...`) into the report of the whole dataset."""
    from rich.console import Console

    from audit.atomic import check_writable
    from audit.merge import merge_reports

    for path in (report, scores):
        if path is not None:
            check_writable(path)
    result = merge_reports(list(reports), ["subaudit", *sys.argv[1:]], scores)
    _emit(result, report, output_format, Console(stderr=True))
    return result.exit_code


report_app = typer.Typer(help="Work with scan reports.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("schema")
def report_schema() -> None:
    """Print the JSON schema of the report (its schema_version is in the title)."""
    import json

    from audit.report import report_json_schema

    sys.stdout.write(json.dumps(report_json_schema(), indent=2, sort_keys=True) + "\n")


class RenderFormat(str, Enum):
    markdown = "markdown"
    html = "html"
    junit = "junit"
    sarif = "sarif"
    json = "json"


@report_app.command("render")
def report_render(
    report_file: Annotated[Path, typer.Argument(help="A JSON report written by scan --report or merge --report.")],
    output_format: Annotated[RenderFormat, typer.Option("--format", help="Output format.")] = RenderFormat.markdown,
    out: Annotated[Path | None, typer.Option(help="Write here (atomically) instead of stdout.")] = None,
) -> None:
    """Re-render a saved report (no re-scoring): Markdown, JUnit XML, SARIF 2.1.0 or JSON."""
    from audit.atomic import check_writable, write_text_atomic
    from audit.merge import load_report
    from audit.render_formats import render

    if out is not None:
        check_writable(out)
    text = render(load_report(report_file), output_format.value)
    if out is None:
        sys.stdout.write(text)
    else:
        write_text_atomic(out, text)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


class Terminated(BaseException):
    """SIGTERM (a CI timeout, a scheduler's kill), raised in the main thread like Ctrl-C.

    A BaseException, so no ``except Exception`` swallows it: ``finally`` blocks run on the way out
    (vLLM's engine processes are shut down, a local Ray runtime is stopped, partial outputs stay
    unpublished), where Python's default SIGTERM action would leave the engines running orphaned.
    """


def _on_sigterm(signum: int, frame: object) -> NoReturn:
    raise Terminated


def _fail(message: str, code: ExitCode) -> NoReturn:
    sys.stderr.write(f"subaudit: error: {message}\n")
    sys.exit(int(code))


def _click_class_names(exc: BaseException) -> set[str]:
    """Class names in the exception's hierarchy.

    Typer raises click's exceptions from its own vendored copy of click (newer releases) or from
    click itself (older ones); matching by name handles both without importing a private module.
    """
    return {cls.__name__ for cls in type(exc).__mro__}


def main() -> None:
    """Console entry point: maps every failure to a one-line message and a documented exit code."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        _run_app()
    finally:
        signal.signal(signal.SIGTERM, previous)  # main() also runs in-process (the tests)


def _run_app() -> NoReturn:
    """Run the app; every way out is sys.exit with a documented code (and one line on stderr)."""
    try:
        result = app(standalone_mode=False)
    except SubauditError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", ExitCode.TOOL_ERROR)
    except Terminated:
        _fail("terminated (SIGTERM)", ExitCode.TOOL_ERROR)
    except Exception as exc:
        names = _click_class_names(exc)
        if "UsageError" in names:
            _fail(f"{exc.format_message()} (see --help)", ExitCode.USAGE_ERROR)  # type: ignore[attr-defined]
        if "Abort" in names:
            _fail("interrupted", ExitCode.TOOL_ERROR)
        # A bug: still one line, and the documented tool-error code.
        _fail(f"internal error: {type(exc).__name__}: {exc}", ExitCode.TOOL_ERROR)
    sys.exit(int(result) if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()

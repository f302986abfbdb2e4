"""The scan pipeline: read rows -> encode -> score -> detectors -> report.

Everything streams: rows are read in record batches, scored, reduced to a few floats per row
per detector, and written to the scores file before the next batch is read.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from audit import __version__
from audit.atomic import check_writable
from audit.backends import create_backend
from audit.backends.base import ScoringBackend
from audit.data import ColumnMapping, ColumnOverrides, DatasetReader, file_sha256
from audit.encoding import encode_rows_detailed
from audit.errors import NothingAuditableError, UsageError
from audit.evidence import EvidenceLog, ScanProgress, restore
from audit.exit_codes import ExitCode
from audit.lora import resolve_adapter
from audit.model_spec import ModelSpec, resolve_source
from audit.plot_data import PositionAccumulator, row_histograms
from audit.report import (
    CalibrationInfo,
    ColumnsInfo,
    Histogram,
    InputInfo,
    ModelInfo,
    Outputs,
    Parameters,
    PlotData,
    Report,
    Timings,
)
from audit.scores_file import ScoresWriter
from audit.seen_ids import SeenIds, canonical_order, in_sample, in_shard
from audit.traits import NEUTRAL_SYSTEM_PROMPT
from audit.verdict import Verdict, dataset_verdict
from audit.vocab import vocabulary
from detectors.base import Detector, DetectorContext, DetectorSettings
from detectors.registry import DETECTORS, scan_detectors
from detectors.trait_probe import trait_role

if TYPE_CHECKING:
    from audit.calibration import Calibration

SKIP_DUPLICATE_ID = "duplicate id (first occurrence kept)"

ProgressCallback = Callable[[int, int, int | None], None]
"""Called after each batch with (rows read so far, rows scored so far, total rows if known)."""


@dataclass(frozen=True)
class ScanConfig:
    """Everything a scan needs; the CLI builds one from flags."""

    input_path: Path
    teacher: str | None = None
    teacher_adapter: str | None = None
    teacher_system_prompt: str | None = None
    reference: str = "smollm2-135m-instruct"
    reference_system_prompt: str | None = None
    control_system_prompt: str | None = NEUTRAL_SYSTEM_PROMPT
    """Neutral control scored with the reference weights; None turns the control off."""
    semantic_filter: bool = False
    learned_detector: bool = False
    trait_keywords: tuple[str, ...] = ()
    banned_numbers: tuple[int, ...] = (666, 911, 187)
    restrict_vocab: str | None = None
    shard: tuple[int, int] | None = None
    """(i, n): score only part i (1-based) of n, partitioned by row-id hash; join parts with merge."""
    sample_fraction: float = 1.0
    """Score only rows whose seeded id hash falls in this fraction (all rows are still read)."""
    evidence_path: Path | None = None
    """JSONL evidence log written while scanning (header, a record per row, checkpoints, digest)."""
    resume: bool = False
    """Continue the scan recorded in ``evidence_path`` after its last checkpoint."""
    strict: bool = False
    """Any skipped row fails the scan with exit code 2 (the report is still written, whole)."""
    """Name of a vocabulary (audit.vocab) to renormalise every distribution over; None = full."""
    columns: ColumnOverrides = field(default_factory=ColumnOverrides)
    input_format: str | None = None
    traits: tuple[tuple[str, str], ...] = ()
    """Probe mode (`subaudit probe`): (name, system prompt) of each candidate trait; no teacher."""
    correction: str = "holm"
    """Multiplicity correction across probe candidates: holm or bh."""
    calibration_path: Path | None = None
    """A calibration file (``subaudit calibrate``): test against its measured null, not E <= 0."""
    adjust_confounds: bool = False
    """With a calibration: remove what length and base-model loss predict from the row LLR sums first."""
    backend: str = "transformers"
    engine: str = "local"
    """"local" (this process) or "ray" (Ray Data actors; audit.ray_engine)."""
    ray_address: str | None = None
    """Ray cluster to join; None starts a local Ray runtime."""
    ray_actors: int | None = None
    """Scoring actors (each holds one backend); None = one per CPU (local) or per GPU with vLLM."""
    alpha: float = 0.01
    suspicious_alpha: float = 0.05
    fail_on: Verdict = Verdict.FLAGGED
    token_budget: int = 8192
    batch_rows: int = 256
    seed: int = 0
    bootstrap_resamples: int = 2000
    max_rows: int | None = None
    scores_path: Path | None = None
    trust_remote_code: bool = False
    command: tuple[str, ...] = ()


def validate(config: ScanConfig) -> None:
    """Reject impossible settings before reading data or loading models."""
    if not 0.0 < config.alpha < 1.0:
        raise UsageError(f"--alpha must be between 0 and 1, got {config.alpha}")
    if not config.alpha <= config.suspicious_alpha < 1.0:
        raise UsageError("--suspicious-alpha must be at least --alpha and below 1")
    if config.token_budget < 16:
        raise UsageError("--token-budget must be at least 16")
    if config.batch_rows < 1:
        raise UsageError("--batch-rows must be at least 1")
    if config.max_rows is not None and config.max_rows < 1:
        raise UsageError("--max-rows must be at least 1")
    if config.restrict_vocab is not None:
        vocabulary(config.restrict_vocab)
    if config.adjust_confounds and (config.calibration_path is None or config.traits):
        raise UsageError("--adjust-confounds needs a scan --calibration (the slopes are fitted on its rows)")
    if config.traits:
        if config.teacher is not None or config.teacher_system_prompt is not None:
            raise UsageError("a probe compares candidate traits; it takes no --teacher")
        if config.control_system_prompt is None:
            raise UsageError("a probe needs the neutral control; do not turn it off")
        if config.correction not in ("holm", "bh"):
            raise UsageError(f"--correction must be holm or bh, got {config.correction!r}")
    elif config.teacher is None and config.teacher_system_prompt is None and config.teacher_adapter is None:
        raise UsageError("name a teacher: --teacher MODEL, --teacher-adapter DIR and/or --teacher-system-prompt TEXT")
    if config.scores_path is not None:
        check_writable(config.scores_path)
    if config.shard is not None and not 1 <= config.shard[0] <= config.shard[1]:
        raise UsageError(f"--shard must be i/n with 1 <= i <= n, got {config.shard[0]}/{config.shard[1]}")
    if not 0.0 < config.sample_fraction <= 1.0:
        raise UsageError(f"--sample-fraction must be in (0, 1], got {config.sample_fraction}")
    if config.resume and config.evidence_path is None:
        raise UsageError("--resume needs --evidence PATH (the log of the interrupted scan)")
    if config.evidence_path is not None:
        check_writable(config.evidence_path)


def model_specs(config: ScanConfig) -> list[ModelSpec]:
    """Reference, teacher and (optionally) the neutral control, which reuses the reference weights.

    A teacher given only as a system prompt also reuses the reference weights (loaded once).
    """
    reference = ModelSpec("reference", resolve_source(config.reference), config.reference_system_prompt)
    if config.traits:
        assert config.control_system_prompt is not None
        control = ModelSpec("control", reference.source, config.control_system_prompt)
        return [reference, control,
                *(ModelSpec(trait_role(name), reference.source, prompt) for name, prompt in config.traits)]
    teacher_source = resolve_source(config.teacher) if config.teacher else reference.source
    adapter = resolve_adapter(config.teacher_adapter) if config.teacher_adapter else None
    teacher = ModelSpec("teacher", teacher_source, config.teacher_system_prompt, adapter)
    if (teacher.source == reference.source and teacher.system_prompt == reference.system_prompt
            and adapter is None):
        raise UsageError("teacher and reference are the same model with the same system prompt")
    specs = [reference, teacher]
    if config.control_system_prompt is not None:
        control = ModelSpec("control", reference.source, config.control_system_prompt)
        if (control.source == teacher.source and control.system_prompt == teacher.system_prompt
                and adapter is None):
            raise UsageError("the teacher's system prompt equals the control's; pass --no-control")
        specs.append(control)
    return specs


@dataclass(frozen=True)
class PreparedCalibration:
    info: CalibrationInfo
    nulls: dict[str, tuple[np.ndarray, np.ndarray, float]]
    null_columns: dict[str, np.ndarray]
    """Known-source per-row columns beyond the LLR sums (see DetectorSettings.null_columns)."""


def prepare_calibration(config: ScanConfig, models: list[ModelInfo]) -> PreparedCalibration | None:
    """Load ``--calibration`` and check it was made with this scan's models and settings (before scoring)."""
    if config.calibration_path is None:
        return None
    from audit.calibration import calibration_info, check_matches, load_calibration

    calibration, sha256 = load_calibration(config.calibration_path)
    check_matches(calibration, models, config.restrict_vocab, probe=bool(config.traits))
    return prepared_calibration(calibration_info(config.calibration_path, sha256, calibration), calibration,
                                config.adjust_confounds)


def prepared_calibration(info: CalibrationInfo, calibration: Calibration,
                         adjust_confounds: bool) -> PreparedCalibration:
    """What the detectors test against, from a loaded calibration (shared by scan and merge)."""
    from audit.calibration import null_columns, nulls_for_detectors

    return PreparedCalibration(info, nulls_for_detectors(calibration), null_columns(calibration, adjust_confounds))


def probe_correction(config: ScanConfig) -> str | None:
    """The probe's correction when this scan is a probe, else None."""
    return config.correction if config.traits else None


def position_accumulator(roles: list[str]) -> PositionAccumulator:
    """Teacher-minus-baseline sums by completion position; empty for a probe (it has no teacher)."""
    if "teacher" not in roles:
        return PositionAccumulator(0, {})
    return PositionAccumulator(roles.index("teacher"),
                               {role: roles.index(role) for role in ("reference", "control") if role in roles})


def evidence_header(config: ScanConfig, reader: DatasetReader, input_sha256: str, models: list[ModelInfo],
                    column_names: list[str]) -> dict[str, Any]:
    """What identifies a scan's per-row scores: a resumed scan must match it exactly."""
    mapping = reader.mapping
    return {
        "tool_version": __version__,
        "input": {"path": str(config.input_path), "sha256": input_sha256, "format": reader.format,
                  "columns": [mapping.mode, mapping.prompt, mapping.completion, mapping.messages, mapping.row_id]},
        "models": [m.model_dump() for m in models],
        "scoring": {"backend": config.backend, "restrict_vocab": config.restrict_vocab,
                    "trait_keywords": list(config.trait_keywords), "banned_numbers": list(config.banned_numbers),
                    "max_rows": config.max_rows, "batch_rows": config.batch_rows,
                    "sample_fraction": config.sample_fraction, "seed": config.seed, "shard": config.shard},
        "columns": column_names,
    }


def open_evidence(config: ScanConfig, header: dict[str, Any]) -> tuple[EvidenceLog | None, ScanProgress]:
    """A new log, a resumed one with the progress it recorded, or none."""
    if config.evidence_path is None:
        return None, ScanProgress()
    if config.resume:
        return restore(config.evidence_path, header)
    if config.evidence_path.exists():
        raise UsageError(f"evidence log {config.evidence_path} exists; pass --resume to continue it, or remove it")
    return EvidenceLog.create(config.evidence_path, header), ScanProgress()


def detector_context(config: ScanConfig, roles: list[str], tokenizer: Any | None) -> DetectorContext:
    """What the detectors know of the scan; the digit tokens only where the learned detector runs."""
    from detectors.learned import digit_token_ids

    digits = digit_token_ids(tokenizer) if config.learned_detector and tokenizer is not None else frozenset()
    return DetectorContext(tuple(roles), config.trait_keywords, config.banned_numbers, digits)


def run_scan(config: ScanConfig, progress: ProgressCallback | None = None) -> Report:
    """Run a scan and return its report (the caller renders and writes it)."""
    started = time.perf_counter()
    validate(config)
    reader = DatasetReader(config.input_path, config.columns, config.input_format, config.batch_rows)
    specs = model_specs(config)
    backend = create_backend(
        config.backend, specs, token_budget=config.token_budget, trust_remote_code=config.trust_remote_code,
        vocabulary=vocabulary(config.restrict_vocab) if config.restrict_vocab else None,
    )
    try:
        return _scan_with(config, reader, backend, specs, started, progress)
    finally:
        backend.close()


def _scan_with(config: ScanConfig, reader: DatasetReader, backend: ScoringBackend, specs: list[ModelSpec],
               started: float, progress: ProgressCallback | None) -> Report:
    """The scan proper, once the backend holds its models (the caller closes the backend)."""
    calibration = prepare_calibration(config, backend.identities())
    loaded = time.perf_counter()
    formats = backend.prompt_formats()
    roles = [spec.role for spec in specs]
    context = detector_context(config, roles, formats[0].tokenizer)
    chosen = scan_detectors("control" in roles, config.semantic_filter, probe_correction(config),
                            config.learned_detector)
    detectors: list[Detector] = [DETECTORS[name](context) for name in chosen]
    # Detectors may share a column (n_tokens); each name is kept once.
    column_names = list(dict.fromkeys(c for d in detectors for c in d.row_columns))

    total_rows = reader.total_rows()
    if total_rows is not None and config.max_rows is not None:
        total_rows = min(total_rows, config.max_rows)
    input_sha256 = file_sha256(config.input_path)
    header = evidence_header(config, reader, input_sha256, backend.identities(), column_names)
    log, state = open_evidence(config, header)
    positions = position_accumulator(roles)
    positions.load(state.positions)
    # Without an id column the row index is the id, unique by construction.
    seen = SeenIds() if reader.mapping.row_id is not None else None
    if seen is not None:
        seen.new_only(state.scored_ids + state.skipped_ids)
    for name in column_names:
        state.columns.setdefault(name, [])
    try:
        with ScoresWriter(config.scores_path, column_names) as writer:
            if state.scored_ids:  # resumed: the scores file is rewritten whole
                writer.write(state.scored_ids, {n: np.concatenate(state.columns[n]) for n in column_names})
            for batch in reader.batches(max_rows=config.max_rows, skip_records=state.rows_read):
                state.rows_read += batch.rows_read
                rows = batch.rows
                skipped_rows: list[tuple[str, str]] = []
                if config.shard is not None:
                    # Partition first, so every later skip (duplicates included: equal ids share a
                    # shard) is counted by exactly one part and merged counts add up.
                    mine = [r for r in rows if in_shard(r.row_id, *config.shard)]
                    own_skips = [reason for key, reason in batch.skipped_keys if in_shard(key, *config.shard)]
                    state.rows_other_shards += len(rows) - len(mine) + len(batch.skipped_keys) - len(own_skips)
                    state.skipped.update(own_skips)
                    rows = mine
                else:
                    state.skipped.update(batch.skipped)
                if seen is not None:
                    first = seen.new_only(row.row_id for row in rows)
                    skipped_rows += [(r.row_id, SKIP_DUPLICATE_ID) for r, keep in zip(rows, first, strict=True)
                                     if not keep]
                    rows = [row for row, keep in zip(rows, first, strict=True) if keep]
                if config.sample_fraction < 1.0:
                    sampled = [r for r in rows if in_sample(r.row_id, config.sample_fraction, config.seed)]
                    state.rows_not_sampled += len(rows) - len(sampled)
                    rows = sampled
                encoded, encode_skips = encode_rows_detailed(rows, formats, backend.vocab_mask)
                skipped_rows += encode_skips
                state.skipped.update(reason for _, reason in skipped_rows)
                row_ids: list[str] = []
                batch_columns: dict[str, np.ndarray] = {name: np.empty(0) for name in column_names}
                if encoded:
                    scored = backend.score(encoded)
                    for detector in detectors:
                        batch_columns.update(detector.score_rows(scored))
                    positions.add(scored)
                    row_ids = [s.encoded.row.row_id for s in scored]
                    state.scored_ids += row_ids
                    for name in column_names:
                        state.columns[name].append(batch_columns[name])
                    writer.write(row_ids, batch_columns)
                    state.rows_scored += len(scored)
                    state.tokens += sum(len(s.encoded.completion_ids) for s in scored)
                if log is not None:
                    log.write_batch(row_ids, batch_columns, skipped_rows, state, positions.state())
                if progress is not None:
                    progress(state.rows_read, state.rows_scored, total_rows)
            if state.rows_scored < 2:
                reasons = ", ".join(f"{n} {r}" for r, n in state.skipped.most_common()) or "no rows"
                raise NothingAuditableError(
                    f"{state.rows_scored} scorable row(s) of {state.rows_read} read ({reasons}); "
                    "at least 2 are needed"
                )
    except BaseException:
        if log is not None:
            log.abandon()
        raise
    report = build_report(
        config, ScannedInput(reader.format, reader.mapping, input_sha256, config.input_path.stat().st_size),
        backend.identities(), list(chosen), detectors, state, positions,
        StageTimes(started, loaded, scored_done=time.perf_counter()), calibration,
    )
    if log is not None:
        log.close({"rows_read": report.input.rows_read, "rows_scored": report.input.rows_scored,
                   "verdict": report.verdict.value, "exit_code": report.exit_code})
    return report


@dataclass(frozen=True)
class ScannedInput:
    """What the report says of the input, whichever engine read it."""

    format: str
    mapping: ColumnMapping
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class StageTimes:
    """perf_counter marks: start, models loaded, last row scored."""

    started: float
    loaded: float
    scored_done: float


def histograms_with_null(columns: dict[str, np.ndarray],
                         calibration: PreparedCalibration | None) -> list[Histogram]:
    """Per-row LLR histograms of the scan, plus the calibrated null's rows when there is one."""
    shown = dict(columns)
    labels = {"llr_mean": "teacher vs reference", "control_llr_mean": "teacher vs control"}
    if calibration is not None and "llr" in calibration.nulls:
        sums, tokens, _ = calibration.nulls["llr"]
        shown["null_llr_mean"] = sums / tokens
        labels["null_llr_mean"] = "calibrated null (teacher vs reference)"
    return row_histograms(shown, labels)


def build_report(config: ScanConfig, scanned: ScannedInput, models: list[ModelInfo], chosen: list[str],
                 detectors: list[Detector], state: ScanProgress, positions: PositionAccumulator,
                 times: StageTimes, calibration: PreparedCalibration | None = None) -> Report:
    """Reduce a finished scan's per-row scores to the report (shared by the local and Ray engines).

    Rows are summarized in canonical order (id digest), so the report does not depend on the
    order rows were scored in: by batch, by shard or by Ray actor.
    """
    rows_read, rows_scored, tokens, skipped = state.rows_read, state.rows_scored, state.tokens, state.skipped
    order = canonical_order(state.scored_ids)
    columns = {name: np.concatenate(parts)[order] if parts else np.empty(0)
               for name, parts in state.columns.items()}
    settings = DetectorSettings(config.alpha, config.suspicious_alpha, config.seed, config.bootstrap_resamples,
                                None if calibration is None else calibration.nulls,
                                None if calibration is None else calibration.null_columns, config.adjust_confounds)
    results = [detector.summarize(columns, settings) for detector in detectors]
    verdict = dataset_verdict([(r.detector_id, r.verdict) for r in results])
    exit_code = ExitCode.FINDINGS if verdict.at_least(config.fail_on) else ExitCode.CLEAN
    if config.strict and skipped:
        exit_code = ExitCode.TOOL_ERROR
    mapping = scanned.mapping
    finished = time.perf_counter()
    score_s = times.scored_done - times.loaded
    return Report(
        tool_version=__version__,
        created_at=datetime.now(timezone.utc),
        command=list(config.command) or list(sys.argv),
        input=InputInfo(
            path=str(config.input_path),
            format=scanned.format,
            sha256=scanned.sha256,
            size_bytes=scanned.size_bytes,
            columns=ColumnsInfo(mode=mapping.mode, prompt=mapping.prompt, completion=mapping.completion,
                                messages=mapping.messages, row_id=mapping.row_id),
            rows_read=rows_read,
            rows_scored=rows_scored,
            rows_skipped=dict(skipped),
            rows_not_sampled=state.rows_not_sampled,
            rows_other_shards=state.rows_other_shards,
            tokens_scored=tokens,
        ),
        models=models,
        parameters=Parameters(
            backend=config.backend, alpha=config.alpha, suspicious_alpha=config.suspicious_alpha,
            fail_on=config.fail_on.value, token_budget=config.token_budget, batch_rows=config.batch_rows,
            seed=config.seed, bootstrap_resamples=config.bootstrap_resamples, max_rows=config.max_rows,
            control_system_prompt=config.control_system_prompt, detectors=list(chosen),
            trait_keywords=list(config.trait_keywords), banned_numbers=list(config.banned_numbers),
            restrict_vocab=config.restrict_vocab, strict=config.strict, sample_fraction=config.sample_fraction,
            shard=None if config.shard is None else f"{config.shard[0]}/{config.shard[1]}",
            engine=config.engine, correction=probe_correction(config), adjust_confounds=config.adjust_confounds,
        ),
        results=results,
        verdict=verdict,
        exit_code=int(exit_code),
        plots=PlotData(row_llr_histograms=histograms_with_null(columns, calibration),
                       position_profiles=positions.profiles()),
        outputs=Outputs(
            scores=None if config.scores_path is None else str(config.scores_path),
            evidence=None if config.evidence_path is None else str(config.evidence_path),
        ),
        timings=Timings(
            load_s=round(times.loaded - times.started, 3),
            score_s=round(score_s, 3),
            total_s=round(finished - times.started, 3),
            scored_tokens_per_s=round(tokens / max(score_s, 1e-9), 1),
        ),
        calibration=None if calibration is None else calibration.info,
    )

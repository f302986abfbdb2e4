"""The detector set a scan runs and the one finishing step every engine and merge share.

Why one place: the local engine, the Ray engine and ``subaudit merge`` must choose the same
detectors, test the same per-row columns against the same null and turn the same verdict into
the same exit code; three copies of those steps had already begun to drift.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from audit.calibration.file import (
    PreparedCalibration,
    calibration_info,
    check_matches,
    load_calibration,
    prepared_calibration,
)
from audit.core.exit_codes import ExitCode
from audit.core.results import DetectorResult
from audit.core.roles import PANEL_ROLE_PREFIX
from audit.core.verdict import Verdict, dataset_verdict
from audit.input.data import ColumnMapping
from audit.input.seen_ids import canonical_order
from audit.pipeline.config import ScanConfig, probe_correction
from audit.pipeline.evidence import ScanProgress
from audit.pipeline.plot_data import PositionAccumulator, row_histograms
from audit.pipeline.sequential import decided_verdict, final_test_config
from audit.report.schema import (
    ColumnsInfo,
    Histogram,
    InputInfo,
    ModelInfo,
    Outputs,
    Parameters,
    PlotData,
    Report,
    SequentialInfo,
    Timings,
    VocabularyInfo,
)
from audit.version import __version__
from detectors.base import Detector, DetectorContext, DetectorSettings
from detectors.registry import DETECTORS, scan_detectors

SEQUENTIAL_VERDICT_RULE = (
    "sequential scan: flagged when the confidence sequences show the teacher beating every baseline (reference, "
    "control, each panel member) by more than the tolerance; clean when one shows it does not beat some baseline by "
    "the tolerance; a scan that ran out of rows undecided takes the fixed-N tests' verdict at the alpha left")


@dataclass(frozen=True)
class DetectorSet:
    """The detectors one scan runs, by id, and the per-row columns they write (each name once)."""

    ids: tuple[str, ...]
    detectors: tuple[Detector, ...]

    @property
    def columns(self) -> list[str]:
        # Detectors may share a column (n_tokens); each name is kept once.
        return list(dict.fromkeys(c for d in self.detectors for c in d.row_columns))


def named_detectors(ids: list[str] | tuple[str, ...], context: DetectorContext) -> DetectorSet:
    """The detectors with these ids (a saved report's list, for merge)."""
    return DetectorSet(tuple(ids), tuple(DETECTORS[name](context) for name in ids))


def detector_context(config: ScanConfig, roles: list[str], tokenizer: Any | None) -> DetectorContext:
    """What the detectors know of the scan; the digit tokens only where the learned detector runs."""
    from detectors.learned import digit_token_ids

    wants_digits = any(DETECTORS[name].needs_digit_tokens for name in config.detectors)
    digits = digit_token_ids(tokenizer) if wants_digits and tokenizer is not None else frozenset()
    resolved = config.resolved  # None: detectors built outside a scan (a test), from the format asked for
    number_data = (is_number_data(None, config.restrict_vocab) if resolved is None
                   else is_number_data(resolved.vocabulary, resolved.scored_vocabulary))
    return DetectorContext(tuple(roles), config.trait_keywords, config.banned_numbers, digits, number_data=number_data)


def is_number_data(vocabulary: VocabularyInfo | None, restrict_vocab: str | None) -> bool:
    """Whether the scan's data are number lists: the format the vocabulary step found (or the one forced)."""
    if vocabulary is not None:
        return "numbers" in (vocabulary.fitting_format, vocabulary.used)
    return restrict_vocab == "numbers"


def scan_detector_set(config: ScanConfig, roles: list[str], tokenizer: Any | None) -> DetectorSet:
    """The detectors ``config`` asks for, over models in ``roles`` (tokenizer None: a driver that only summarizes)."""
    ids = scan_detectors("control" in roles, probe_correction(config),
                         any(role.startswith(PANEL_ROLE_PREFIX) for role in roles), config.detectors)
    return named_detectors(ids, detector_context(config, roles, tokenizer))


def position_accumulator(roles: list[str]) -> PositionAccumulator:
    """Teacher-minus-baseline sums by completion position; empty for a probe (it has no teacher)."""
    if "teacher" not in roles:
        return PositionAccumulator(0, {})
    return PositionAccumulator(roles.index("teacher"),
                               {role: roles.index(role) for role in ("reference", "control") if role in roles})


def prepare_calibration(config: ScanConfig, models: list[ModelInfo]) -> PreparedCalibration | None:
    """Load ``--calibration`` and check it was made with this scan's models and settings (before scoring)."""
    null_file = config.resolution.null_file
    if null_file is None:
        return None
    calibration, sha256 = load_calibration(null_file)
    check_matches(calibration, models, config.resolution.scored_vocabulary, probe=bool(config.traits))
    return prepared_calibration(calibration_info(null_file, sha256, calibration), calibration,
                                config.adjust_confounds)


@dataclass(frozen=True)
class Conclusion:
    """Every detector's dataset result, the combined verdict and the exit code it maps to."""

    results: list[DetectorResult]
    verdict: Verdict
    exit_code: ExitCode


def described(result: DetectorResult, detector: Detector) -> DetectorResult:
    """The result with its detector's description, so renderers (SARIF's rules) need not look detectors up."""
    return result.model_copy(update={"description": result.description or detector.description})


def conclude(detectors: DetectorSet, columns: dict[str, np.ndarray], settings: DetectorSettings, fail_on: Verdict,
             strict: bool, skipped: bool, decided: Verdict | None = None) -> Conclusion:
    """Summarize each detector over the rows' columns, combine the verdicts and map them to an exit code.

    ``columns`` must be in canonical row order (``canonical_order``) so seeded bootstrap intervals do
    not depend on the order rows were scored in. ``strict`` with any skipped row is a tool error.
    ``decided``: the verdict a sequential scan's confidence sequences reached (rules a and b of
    audit.pipeline.sequential); it is the dataset verdict, the detectors' fixed-N results are kept
    for their statistics (a sequential scan runs only the likelihood-ratio detectors).
    """
    results = [described(detector.summarize(columns, settings), detector) for detector in detectors.detectors]
    verdict = decided if decided is not None else dataset_verdict([(r.detector_id, r.verdict) for r in results])
    exit_code = ExitCode.FINDINGS if verdict.at_least(fail_on) else ExitCode.CLEAN
    if strict and skipped:
        exit_code = ExitCode.TOOL_ERROR
    return Conclusion(results, verdict, exit_code)


def detector_settings_for(config: ScanConfig, calibration: PreparedCalibration | None) -> DetectorSettings:
    """:func:`detector_settings` from a scan's config."""
    return detector_settings(config.alpha, config.suspicious_alpha, config.seed, config.bootstrap_resamples,
                             calibration, config.adjust_confounds, config.tolerance)


def detector_settings(alpha: float, suspicious_alpha: float, seed: int, bootstrap_resamples: int,
                      calibration: PreparedCalibration | None, adjust_confounds: bool,
                      tolerance: float) -> DetectorSettings:
    """The detectors' test settings, with the calibrated null when there is one."""
    return DetectorSettings(alpha, suspicious_alpha, seed, bootstrap_resamples,
                            None if calibration is None else calibration.nulls,
                            None if calibration is None else calibration.null_columns, adjust_confounds, tolerance)


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
        shown["null_llr_mean"] = calibration.nulls["llr"].per_token_rows
        labels["null_llr_mean"] = "calibrated null (teacher vs reference)"
    return row_histograms(shown, labels)


def build_report(config: ScanConfig, scanned: ScannedInput, models: list[ModelInfo], detectors: DetectorSet,
                 state: ScanProgress, positions: PositionAccumulator, times: StageTimes,
                 calibration: PreparedCalibration | None = None, sequential: SequentialInfo | None = None) -> Report:
    """Reduce a finished scan's per-row scores to the report (shared by the local and Ray engines).

    Rows are summarized in canonical order (id digest), so the report does not depend on the
    order rows were scored in: by batch, by shard or by Ray actor. A sequential scan's verdict is
    its stopping rule's; stopped by the end of its rows, the fixed-N tests decide at the alpha the
    confidence sequences left (audit.pipeline.sequential).
    """
    decided = None
    if sequential is not None:
        decided = decided_verdict(sequential.rule)
        if decided is None:
            config = final_test_config(config)
    rows_read, rows_scored, tokens, skipped = state.rows_read, state.rows_scored, state.tokens, state.skipped
    order = canonical_order(state.scored_ids)
    columns = {name: np.concatenate(parts)[order] if parts else np.empty(0)
               for name, parts in state.columns.items()}
    settings = detector_settings_for(config, calibration)
    conclusion = conclude(detectors, columns, settings, config.fail_on, config.strict, bool(skipped), decided)
    mapping = scanned.mapping
    finished = time.perf_counter()
    score_s = times.scored_done - times.loaded
    return Report(
        tool_version=__version__,
        created_at=datetime.now(timezone.utc),
        command=list(config.command) or list(sys.argv),
        input=InputInfo(
            path=config.input_label or str(config.input_path),
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
            tolerance=config.tolerance,
            fail_on=config.fail_on.value, token_budget=config.token_budget, batch_rows=config.batch_rows,
            seed=config.seed, bootstrap_resamples=config.bootstrap_resamples, max_rows=config.max_rows,
            control_system_prompt=config.control_system_prompt, detectors=list(detectors.ids),
            trait_keywords=list(config.trait_keywords), banned_numbers=list(config.banned_numbers),
            restrict_vocab=config.resolution.scored_vocabulary, strict=config.strict,
            sample_fraction=config.sample_fraction,
            shard=None if config.shard is None else f"{config.shard[0]}/{config.shard[1]}",
            engine=config.engine, correction=probe_correction(config), adjust_confounds=config.adjust_confounds,
        ),
        results=conclusion.results,
        verdict=conclusion.verdict,
        exit_code=int(conclusion.exit_code),
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
        config_file=config.config_file,
        vocabulary=config.resolution.vocabulary,
        null=config.resolution.null,
        warnings=list(config.resolution.warnings),
        settings=list(config.settings),
        sequential=sequential,
        **({} if sequential is None else {"verdict_rule": SEQUENTIAL_VERDICT_RULE}),
    )

"""Calibration: an empirical null for the likelihood-ratio tests, from data of known source.

Why: the one-sample test's null, E[row LLR] <= 0, is what theory gives for rows the baseline
wrote by plain sampling. Real pipelines filter, constrain or post-process their data, and then
the null can sit above zero (fixtures/README.md, finding 1: format compliance alone made
reference-written number lists score +0.04 nats/token). A calibration replaces the theoretical
null by a measured one: the same scan run on data whose source is known not to be the teacher
(by default the reference's own completions, made and filtered the way the audited data was).
The audited rows are then tested against it with a one-sided Welch two-sample t-test on row LLR
sums (H0: E[audited] <= E[known source]), and per-row thresholds are set at a chosen false-
positive rate from the null's own per-token row means.

A probe is calibrated the same way (``calibrate --traits``): the file then holds every
candidate's and the neutral control's per-row log-probability sums on the known-source rows, so
each of the probe's contrasts (candidate vs neutral, candidate vs candidate) gets its own
measured null, whichever subset of the calibrated candidates a later probe names.

A calibration file is versioned JSON holding the null's row values, the models' hashes, the
prompts, the scoring settings and how the known-source data was made; scans and probes refuse a
calibration made under other models or settings, and the report names the calibration it used
(path and SHA-256).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audit.core.errors import UsageError
from audit.core.nulls import Null
from audit.report.schema import CalibrationInfo, KnownSourceInfo, ModelInfo

CALIBRATION_FORMAT = "subaudit-calibration"
CALIBRATION_VERSION = "1.2.0"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NullSample(_Model):
    """One detector's null: per-row LLR sums and token counts of the known-source rows."""

    column: str
    row_llr_sums: list[float]
    row_tokens: list[float]
    mean: float
    std: float
    row_threshold_per_token: float = Field(
        description="per-token row LLR above which a known-source row falls with probability fpr")


class Calibration(_Model):
    """A versioned empirical null for one reference / teacher / control set-up."""

    format: str = CALIBRATION_FORMAT
    version: str = CALIBRATION_VERSION
    tool_version: str
    created_at: datetime
    command: list[str]
    source_path: str
    source_sha256: str
    rows_scored: int
    models: list[ModelInfo]
    restrict_vocab: str | None
    fpr: float
    nulls: dict[str, NullSample]
    kind: Literal["scan", "probe"] = "scan"
    known_source: KnownSourceInfo | None = Field(
        default=None, description="how the known-source rows were made (None: an earlier version's file)")
    row_columns: dict[str, list[float]] = Field(
        default_factory=dict, description="per known-source row, what tests beyond the LLR sums need: "
        "reference_logprob_sum (scan; --adjust-confounds), or n_tokens and logprob_sum:<role> (probe)")
    seconds: float | None = Field(
        default=None, description="wall time it took to make: generating the known-source rows (when generated "
        "here) and scoring them (since 1.2.0)")


def null_sample(column: str, sums: np.ndarray, tokens: np.ndarray, fpr: float) -> NullSample:
    per_token = sums / tokens
    return NullSample(column=column, row_llr_sums=[float(x) for x in sums], row_tokens=[float(x) for x in tokens],
                      mean=float(sums.mean()), std=float(sums.std(ddof=1)) if sums.size > 1 else float("nan"),
                      row_threshold_per_token=float(np.quantile(per_token, 1.0 - fpr)))


def load_calibration(path: Path) -> tuple[Calibration, str]:
    """Read and validate a calibration file; return it with its SHA-256."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read calibration {path}: {exc.__class__.__name__}") from exc
    try:
        calibration = Calibration.model_validate_json(raw)
    except ValueError as exc:
        raise UsageError(_unreadable_calibration(path, raw, exc)) from exc
    major = CALIBRATION_VERSION.split(".")[0]
    if calibration.format != CALIBRATION_FORMAT or calibration.version.split(".")[0] != major:
        raise UsageError(f"{path}: calibration format {calibration.format} {calibration.version} is not supported "
                         f"(this subaudit reads {CALIBRATION_FORMAT} {CALIBRATION_VERSION.split('.')[0]}.x)")
    return calibration, hashlib.sha256(raw).hexdigest()


def _unreadable_calibration(path: Path, raw: bytes, exc: ValueError) -> str:
    """Why a file failed to load: not a calibration at all, or one whose fields this subaudit does not read.

    The second is a calibration made by another subaudit version; saying only "not a calibration"
    would send the user looking for the wrong problem.
    """
    try:
        header = json.loads(raw)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != CALIBRATION_FORMAT:
        return f"{path} is not a subaudit calibration file"
    first = exc.errors()[0] if isinstance(exc, ValidationError) and exc.errors() else None
    detail = f" ({'.'.join(str(p) for p in first['loc'])}: {first['msg']})" if first else ""
    return (f"{path}: a calibration file (version {header.get('version')}) that this subaudit cannot read"
            f"{detail}; run subaudit calibrate again")


def check_matches(calibration: Calibration, models: list[ModelInfo], restrict_vocab: str | None,
                  probe: bool = False) -> None:
    """A null measured under other weights, prompts or vocabulary says nothing about this scan.

    A scan must match the calibration's models exactly. A probe may name any subset of the
    calibrated candidates (every contrast's null is computed from per-role sums), but each of its
    models must be in the calibration with the same weights, tokenizer and prompt.
    """
    def key(m: ModelInfo) -> tuple[str, str, str, str | None, str | None]:
        # The adapter is part of a fine-tuned teacher's identity: same base, other adapter, other null.
        return (m.role, m.weights_sha256, m.tokenizer_sha256, m.system_prompt, m.adapter_sha256)

    if probe != (calibration.kind == "probe"):
        raise UsageError(f"the calibration was made for `subaudit {calibration.kind}`; this is "
                         f"`subaudit {'probe' if probe else 'scan'}` (run calibrate "
                         f"{'with' if probe else 'without'} --traits)")
    calibrated = [key(m) for m in calibration.models]
    if probe:
        missing = [m.role for m in models if key(m) not in calibrated]
        if missing:
            raise UsageError(f"the calibration has no null for {', '.join(missing)} with these weights and prompts "
                             "(calibrate with the same reference and candidates)")
    elif calibrated != [key(m) for m in models]:
        raise UsageError("the calibration was made with other models or system prompts than this scan's"
                         + _panel_hint(calibration.models, models))
    if calibration.restrict_vocab != restrict_vocab:
        raise UsageError(f"the calibration was made with --restrict-vocab {calibration.restrict_vocab}, "
                         f"this scan uses {restrict_vocab}")


def _panel_hint(calibrated: list[ModelInfo], scanned: list[ModelInfo]) -> str:
    """When only the control panels differ, say so: calibrations made before the panel became the
    default are refused by a default scan, and the fix is one flag."""
    from audit.core.roles import PANEL_ROLE_PREFIX, panel_member

    def members(models: list[ModelInfo]) -> list[str]:
        return [panel_member(m.role) for m in models if m.role.startswith(PANEL_ROLE_PREFIX)]

    def others(models: list[ModelInfo]) -> list[ModelInfo]:
        return [m for m in models if not m.role.startswith(PANEL_ROLE_PREFIX)]

    if others(calibrated) != others(scanned):
        return ""
    return (f" (control panel: {', '.join(members(calibrated)) or 'none'} in the calibration, "
            f"{', '.join(members(scanned)) or 'none'} here; pass the calibration's --control-panel or calibrate again)")


def calibration_info(path: Path, sha256: str, calibration: Calibration) -> CalibrationInfo:
    return CalibrationInfo(path=str(path), sha256=sha256, source_path=calibration.source_path,
                           source_sha256=calibration.source_sha256, rows=calibration.rows_scored,
                           fpr=calibration.fpr, created_at=calibration.created_at, kind=calibration.kind,
                           known_source=calibration.known_source)


def nulls_for_detectors(calibration: Calibration) -> dict[str, Null]:
    """Detector id -> its null, as arrays the detectors test against."""
    return {detector: Null(np.array(null.row_llr_sums), np.array(null.row_tokens), null.row_threshold_per_token)
            for detector, null in calibration.nulls.items()}


def null_columns(calibration: Calibration, adjust_confounds: bool) -> dict[str, np.ndarray]:
    """The calibration's stored per-row columns as arrays; --adjust-confounds needs the base-model loss."""
    if adjust_confounds and "reference_logprob_sum" not in calibration.row_columns:
        raise UsageError("this calibration holds no per-row base-model loss (a probe calibration, or made by an "
                         "older subaudit); run calibrate again to use --adjust-confounds")
    return {name: np.array(values) for name, values in calibration.row_columns.items()}


@dataclass(frozen=True)
class PreparedCalibration:
    """A loaded calibration as the detectors test against it (shared by scan, Ray and merge)."""

    info: CalibrationInfo
    nulls: dict[str, Null]
    null_columns: dict[str, np.ndarray]
    """Known-source per-row columns beyond the LLR sums (see DetectorSettings.null_columns)."""


def prepared_calibration(info: CalibrationInfo, calibration: Calibration,
                         adjust_confounds: bool) -> PreparedCalibration:
    """What the detectors test against, from a loaded calibration."""
    return PreparedCalibration(info, nulls_for_detectors(calibration), null_columns(calibration, adjust_confounds))

"""The dataset tests of a finished scan, run again on any subset of its rows, from its scores file alone.

Why: per-row scores do not depend on which other rows are in the data, so a verdict on a subset (the
rows a shard scored, the rows left after a scrub, a held-back half) needs no forward pass: it is every
detector's summary over those rows' columns. Merge and scrub both do this; the tests, their settings
and the calibrated null come from the report, so a retest is the scan's own test on fewer rows.
Rows are summarized in canonical order (by id digest), as a scan does, so seeded intervals agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from audit.calibration.file import PreparedCalibration, prepared_calibration
from audit.core.errors import UsageError
from audit.core.verdict import Verdict
from audit.input.seen_ids import canonical_order
from audit.pipeline.finish import Conclusion, DetectorSet, conclude, detector_settings, is_number_data, named_detectors
from audit.report.schema import Report
from detectors.base import DetectorContext, DetectorSettings


def report_calibration(report: Report) -> PreparedCalibration | None:
    """The calibration a report was tested against, loaded again (it must not have changed since)."""
    info = report.calibration
    if info is None:
        return None
    from audit.calibration.file import load_calibration

    calibration, sha256 = load_calibration(Path(info.path))
    if sha256 != info.sha256:
        raise UsageError(f"calibration {info.path} has changed since the scan (SHA-256 differs)")
    return prepared_calibration(info, calibration, report.parameters.adjust_confounds)


def report_tests(report: Report, calibration: PreparedCalibration | None) -> tuple[DetectorSet, DetectorSettings]:
    """The detectors and test settings a report's scan ran, rebuilt from the report."""
    params = report.parameters
    context = DetectorContext(tuple(m.role for m in report.models), tuple(params.trait_keywords),
                              tuple(params.banned_numbers),
                              number_data=is_number_data(report.vocabulary, params.restrict_vocab))
    settings = detector_settings(params.alpha, params.suspicious_alpha, params.seed, params.bootstrap_resamples,
                                 calibration, params.adjust_confounds, params.tolerance)
    return named_detectors(params.detectors, context), settings


def retest(report: Report, row_ids: Sequence[str], columns: dict[str, np.ndarray],
           calibration: PreparedCalibration | None = None) -> Conclusion:
    """The report's tests over exactly these rows (``columns`` aligned with ``row_ids``, any order)."""
    order = canonical_order(list(row_ids))
    ordered = {name: np.asarray(values)[order] for name, values in columns.items()}
    detectors, settings = report_tests(report, calibration)
    return conclude(detectors, ordered, settings, Verdict(report.parameters.fail_on), strict=False, skipped=False)

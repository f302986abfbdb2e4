"""How a null is measured (``subaudit calibrate``, the automatic null): the ordinary scan run on data of
known source, its per-row LLRs stored in a calibration file (audit.calibration.file).

Here in the pipeline, not beside the file format in audit.calibration: it runs a scan, and the file
format sits below the pipeline, which reads calibrations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audit.calibration.file import Calibration, null_sample
from audit.core.atomic import check_writable, write_text_atomic
from audit.core.errors import UsageError
from audit.core.roles import PANEL_ROLE_PREFIX
from audit.pipeline.config import NULL_THEORETICAL, ScanConfig, validate
from audit.pipeline.local import run_scan
from audit.report.schema import KnownSourceInfo, Report
from detectors.registry import calibrated_columns


def check_before_scoring(config: ScanConfig, out: Path, fpr: float) -> None:
    """Every setting a calibration can fail on, checked before any model is loaded or row generated."""
    if not 0.0 < fpr < 0.5:
        raise UsageError(f"--fpr must be in (0, 0.5), got {fpr}")
    if config.calibration_path is not None:
        raise UsageError("calibrate measures a null; it takes no --calibration")
    validate(config)
    check_writable(out)


def calibrate(config: ScanConfig, out: Path, fpr: float, known_source: KnownSourceInfo,
              generation_s: float = 0.0) -> tuple[Calibration, Report]:
    """Scan known-source data with ``config`` and store its per-row LLRs as the null.

    The scan is the ordinary one (same models, prompts, vocabulary, skips), so the null is
    measured exactly the way a later scan measures the audited data. With ``config.traits`` it
    is a probe, and the per-role sums every probe contrast needs are stored instead.
    """
    import dataclasses
    import tempfile
    import time

    import pyarrow.parquet as pq


    check_before_scoring(config, out, fpr)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="subaudit-calibrate-") as folder:
        scores = Path(folder) / "scores.parquet"
        # The known-source rows' raw LLR sums are the null; no null is tested against here. Every row of
        # them is the null, so never a sequential scan that would stop early.
        # Nor the teacher questionnaire: the null is about the known-source rows, not about what the teacher holds.
        # Every baseline is scored: each baseline's test needs its own null, whatever the first one says.
        report = run_scan(dataclasses.replace(config, scores_path=scores, null=NULL_THEORETICAL, sequential=False,
                                              teacher_traits=False, baselines="all"))
        table = pq.read_table(scores).to_pydict()
    tokens = np.array(table["n_tokens"])
    calibrated = calibrated_columns()
    # Panel controls: one null per member, keyed as that member's test looks it up ('llr-panel:<name>').
    calibrated.update({f"llr-{name[:-len('_llr_sum')]}": name for name in table
                       if name.startswith(PANEL_ROLE_PREFIX) and name.endswith("_llr_sum")})
    nulls = {detector: null_sample(column, np.array(table[column]), tokens, fpr)
             for detector, column in calibrated.items() if column in table}
    kept = ("n_tokens", "logprob_sum:") if config.traits else ("reference_logprob_sum",)
    row_columns = {name: [float(x) for x in values] for name, values in table.items() if name.startswith(kept)}
    calibration = Calibration(
        tool_version=report.tool_version, created_at=report.created_at, command=report.command,
        source_path=report.input.path, source_sha256=report.input.sha256, rows_scored=report.input.rows_scored,
        models=report.models, restrict_vocab=report.parameters.restrict_vocab, fpr=fpr, nulls=nulls,
        kind="probe" if config.traits else "scan", known_source=known_source, row_columns=row_columns,
        seconds=round(generation_s + time.perf_counter() - started, 1),
    )
    write_text_atomic(out, calibration.model_dump_json(indent=1) + "\n")
    return calibration, report

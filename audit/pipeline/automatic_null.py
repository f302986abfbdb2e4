"""Making an automatic null (``--null auto``): the reference's answers to the audited prompts, measured.

Apart from :mod:`audit.pipeline.null_choice`, which decides, because making one runs a scan
(:mod:`audit.calibration.measure` -> :mod:`audit.pipeline.local`) and the engines import the
decision: the command line passes this maker in before any engine starts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from audit.core.errors import NothingAuditableError, UsageError
from audit.pipeline.config import NULL_THEORETICAL, ScanConfig
from audit.pipeline.null_choice import AUTO_NULL_FPR


def make_automatic_null(config: ScanConfig, folder: Path, key: str, path: Path) -> None:
    """Generate the reference's answers to the audited prompts, filter them, and measure the null on them.

    The caller (audit.cli.common.prepared_null) has already checked that the backend is installed.
    """
    from audit.calibration.known_source import KnownSourcePlan, generate_known_source
    from audit.calibration.measure import calibrate
    from audit.input.data import ColumnOverrides

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the null cache {folder}: {exc.strerror}") from exc
    known = folder / f"{key}.known.parquet"
    plan = KnownSourcePlan(
        data=config.input_path, reference=config.reference, reference_system_prompt=config.reference_system_prompt,
        columns=config.columns, input_format=config.input_format, rows=config.null_rows, filter="auto",
        banned_numbers=config.banned_numbers, constrained=True, seed=config.seed,
        trust_remote_code=config.trust_remote_code)
    try:
        info = generate_known_source(plan, known)
    except NothingAuditableError as exc:
        first = str(exc).split(" (raise")[0]
        raise NothingAuditableError(
            f"cannot make the automatic null: {first}; scan with --restrict-vocab auto, or make a null with "
            "`subaudit calibrate --max-samples N` and pass --null FILE") from exc
    measured = dataclasses.replace(
        config, input_path=known, columns=ColumnOverrides(row_id="id"), input_format=None, null=NULL_THEORETICAL,
        null_info=None, calibration_path=None, scores_path=None, evidence_path=None, resume=False, shard=None,
        sample_fraction=1.0, max_rows=None, engine="local", warnings=())
    try:
        calibrate(measured, path, AUTO_NULL_FPR, info)
    except NothingAuditableError as exc:
        raise NothingAuditableError(f"cannot make the automatic null: of the reference's answers ({known}), {exc}; "
                                    "pass --null FILE or --null theoretical") from exc

"""subaudit's Python API: ``scan``, ``probe``, ``calibrate`` and ``scrub`` take a request of typed groups and
return the report (the calibration for ``calibrate``, the scrub report for ``scrub``).

    from audit import scan, ScanRequest, Input, Models
    report = scan(ScanRequest(Input("data.parquet"), Models(teacher_adapter="teacher-lora/")))
    report.verdict, report.exit_code, report.results

The CLI is a thin layer over these (it parses options into a request and renders the report), so a
caller gets the same checks, errors (:mod:`audit.core.errors`, each with the CLI's exit code), files
and report. Data may be a path, a pyarrow table, or a list of row dicts.
"""

from audit.api.request import (
    CalibrateRequest,
    Candidates,
    Columns,
    Engine,
    Input,
    KnownSource,
    Method,
    Models,
    Outputs,
    ProbeRequest,
    Provenance,
    ScanRequest,
    Scrub,
    ScrubRequest,
)
from audit.api.run import SkippedRowsError, calibrate, probe, scan, scrub

__all__ = ["CalibrateRequest", "Candidates", "Columns", "Engine", "Input", "KnownSource", "Method", "Models", "Outputs",
           "ProbeRequest", "Provenance", "ScanRequest", "Scrub", "ScrubRequest", "SkippedRowsError", "calibrate",
           "probe", "scan", "scrub"]

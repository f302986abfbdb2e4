"""Run a scan or probe from a request: the same steps, errors and files as the CLI, returning the report.

The CLI parses its options into a request, calls these, and renders the report; so a Python caller
gets what the command line gets: the vocabulary and the null decided (an automatic null made and
cached when one is needed), the engine chosen, the report file written atomically, and the same
exception classes (:mod:`audit.core.errors`, each with its exit code) for the same mistakes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from audit.api.data import data_file
from audit.api.plan import probe_config, scan_config
from audit.api.request import Outputs, ProbeRequest, ScanRequest
from audit.core.errors import ToolError

if TYPE_CHECKING:
    from audit.pipeline.config import ScanConfig
    from audit.pipeline.local import ProgressCallback
    from audit.report.schema import Report


class SkippedRowsError(ToolError):
    """A strict run skipped rows (exit code 2). The report, whole, is written and attached as ``report``."""

    def __init__(self, report: Report) -> None:
        skipped = report.input.rows_skipped
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(skipped.items()))
        super().__init__(f"--strict: {sum(skipped.values())} row(s) skipped ({reasons})")
        self.report = report


def scan(request: ScanRequest, progress: ProgressCallback | None = None) -> Report:
    """Did these data come from this teacher? Scores the rows and returns the report.

    ``progress`` is called after each batch with (rows read, rows scored, total rows if known).
    Raises a :class:`audit.core.errors.SubauditError` for what the CLI refuses (its ``exit_code`` is
    the CLI's), and :class:`SkippedRowsError` when ``Input.strict`` is set and rows were skipped.
    """
    with data_file(request.input.data) as (path, label):
        return _run(scan_config(request, path), request.outputs, label, progress)


def probe(request: ProbeRequest, progress: ProgressCallback | None = None) -> Report:
    """Which candidate trait explains the data (or, with a weight teacher, what it holds)? Returns the report."""
    with data_file(request.input.data) as (path, label):
        return _run(probe_config(request, path), request.outputs, label, progress)


def prepared(config: ScanConfig) -> ScanConfig:
    """The local engine's vocabulary and null decided, an automatic null made (and cached) if one is needed."""
    from audit.models.backends import check_available
    from audit.pipeline.automatic_null import make_automatic_null
    from audit.pipeline.config import validate
    from audit.pipeline.null_choice import resolve_null
    from audit.pipeline.vocabulary import resolve_vocabulary

    validate(config)
    check_available(config.backend)
    return resolve_null(resolve_vocabulary(config), maker=make_automatic_null)


def _run(config: ScanConfig, outputs: Outputs, label: str | None, progress: ProgressCallback | None) -> Report:
    from audit.core.atomic import check_writable, write_text_atomic

    report_path = None if outputs.report is None else Path(outputs.report)
    if report_path is not None:
        check_writable(report_path)
    if config.engine == "ray":
        from audit.pipeline.ray_engine import run_ray_scan

        result = run_ray_scan(config, progress)
    else:
        from audit.pipeline.local import run_scan

        result = run_scan(prepared(config), progress)
    if label is not None:
        result.input.path = label
    if report_path is not None:
        write_text_atomic(report_path, result.model_dump_json(indent=2) + "\n")
    if result.parameters.strict and result.input.rows_skipped:
        raise SkippedRowsError(result)
    return result

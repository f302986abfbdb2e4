"""`subaudit merge`: join shard scans into the report of the whole dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audit.cli import common
from audit.cli.options import FormatOpt, OutputFormat, Quiet, ReportOut, ScoresOut


def merge(
    reports: Annotated[list[Path], typer.Argument(help="The JSON reports of every --shard scan of one dataset.")],
    report: ReportOut = None,
    scores: ScoresOut = None,
    output_format: FormatOpt = OutputFormat.text,
    quiet: Quiet = False,
) -> int:
    """Join shard scans (`scan --shard i/n --scores ... --report ...`) into the report of the whole dataset.

    The merged report is the one a single full scan gives (same statistics, p-values and intervals),
    tested against the shards' calibration when they used one.
    """
    from rich.console import Console

    from audit.core.atomic import check_writable
    from audit.pipeline.merge import merge_reports

    for path in (report, scores):
        if path is not None:
            check_writable(path)
    result = merge_reports(list(reports), list(common.command_line()), scores)
    common.emit(result, report, output_format, None if quiet else Console(stderr=True))
    return result.exit_code

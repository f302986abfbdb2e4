"""`subaudit report schema|render`: the report's JSON schema, and saved reports rendered to other formats."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

report_app = typer.Typer(help="Work with saved reports: print the schema, render other formats.", no_args_is_help=True)


@report_app.command("schema")
def report_schema() -> None:
    """Print the JSON schema of the report (its schema_version is in the title)."""
    import json

    from audit.report.schema import report_json_schema

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
    from audit.core.atomic import check_writable, write_text_atomic
    from audit.pipeline.merge import load_report
    from audit.report.formats import render

    if out is not None:
        check_writable(out)
    text = render(load_report(report_file), output_format.value)
    if out is None:
        sys.stdout.write(text)
    else:
        write_text_atomic(out, text)

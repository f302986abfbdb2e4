"""Steps several commands share: reading option files, recording where settings came from, writing outputs.

Imports stay lazy inside the functions: the CLI's import must not load the scoring stack.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from audit.cli.options import OutputFormat
from audit.cli.project_config import setting_value
from audit.core.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from audit.api.request import ProbeRequest, ScanRequest
    from audit.pipeline.row_loop import ProgressCallback
    from audit.report.schema import Report, ResolvedSetting

    Request = TypeVar("Request", ScanRequest, ProbeRequest)

SOURCES = {"COMMANDLINE": "command line", "DEFAULT_MAP": "config file", "DEFAULT": "default",
           "ENVIRONMENT": "environment", "PROMPT": "prompt"}


def read_system_file(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read system prompt file {path}: {exc.__class__.__name__}") from exc


def control_choice(prompt: str | None, no_control: bool) -> str | None:
    """--control-system-prompt / --no-control as a request's control prompt: given, NEUTRAL, or None (off)."""
    from audit.api.request import NEUTRAL

    if no_control and prompt is not None:
        raise UsageError("give --control-system-prompt or --no-control, not both")
    return None if no_control else (prompt or NEUTRAL)


def names(text: str | None) -> tuple[str, ...]:
    """A comma-separated option (``--traits owl,cat``) as its non-blank names."""
    return tuple(name for name in (text or "").split(",") if name.strip())


def teacher_prompt(prompt: str | None, prompt_file: Path | None) -> str | None:
    """The teacher's system prompt from --teacher-system-prompt or --teacher-system-file (not both)."""
    if prompt is not None and prompt_file is not None:
        raise UsageError("give --teacher-system-prompt or --teacher-system-file, not both")
    return prompt or read_system_file(prompt_file)


def banned(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise UsageError(f"--banned-numbers must be comma-separated integers, got {text!r}") from exc


def resolved_settings(ctx: typer.Context) -> tuple[str | None, tuple[ResolvedSetting, ...]]:
    """The config file used (if any) and every option's value with its source, for the report."""
    from audit.report.schema import ResolvedSetting

    settings = []
    for param in ctx.command.params:
        if param.name is None or not getattr(param, "opts", None) or not param.opts[0].startswith("-"):
            continue  # arguments (DATA) are recorded in the report's input section
        source = ctx.get_parameter_source(param.name)
        settings.append(ResolvedSetting(name=param.opts[0], value=setting_value(ctx.params.get(param.name)),
                                        source=SOURCES.get(source.name if source else "DEFAULT", "default")))
    config_file = ctx.obj.get("subaudit.config_file") if isinstance(ctx.obj, dict) else None
    return (None if config_file is None else str(config_file)), tuple(settings)


def show(result: Report, output_format: OutputFormat, console: Console | None) -> None:
    """Stdout JSON, or the terminal summary on ``console`` (None: quiet)."""
    from audit.report.terminal import render_terminal

    if output_format is OutputFormat.json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    elif console is not None:
        render_terminal(result, console)


def emit(result: Report, report_path: Path | None, output_format: OutputFormat, console: Console | None) -> None:
    """Write the report file (atomically), then show it."""
    from audit.core.atomic import write_text_atomic

    if report_path is not None:
        write_text_atomic(report_path, result.model_dump_json(indent=2) + "\n")
    show(result, output_format, console)


def run_and_emit(run: Callable[[Request, ProgressCallback | None], Report], request: Request,
                 output_format: OutputFormat, quiet: bool) -> int:
    """Run a request through the API (which writes the report file), show the report, return its exit code.

    A strict run that skipped rows is shown (and its warnings printed) before its error is raised.
    """
    from rich.console import Console

    from audit.api import SkippedRowsError

    console = Console(stderr=True)
    try:
        if not quiet and output_format is OutputFormat.text:
            from audit.cli.progress import scan_progress

            with scan_progress(console) as on_batch:
                result = run(request, on_batch)
        else:
            result = run(request, None)
    except SkippedRowsError as exc:
        _show_with_warnings(exc.report, output_format, None if quiet else console)
        raise
    _show_with_warnings(result, output_format, None if quiet else console)
    return result.exit_code


def _show_with_warnings(result: Report, output_format: OutputFormat, console: Console | None) -> None:
    show(result, output_format, console)
    for warning in result.warnings:
        sys.stderr.write(f"subaudit: warning: {warning}\n")


def command_line() -> tuple[str, ...]:
    return tuple(["subaudit", *sys.argv[1:]])

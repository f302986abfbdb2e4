"""Steps several commands share: reading option files, recording where settings came from, writing outputs.

Imports stay lazy inside the functions: the CLI's import must not load the scoring stack.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from audit.cli.options import Engine, OutputFormat
from audit.cli.project_config import setting_value
from audit.core.errors import ToolError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from audit.input.data import ColumnOverrides
    from audit.pipeline.config import ScanConfig
    from audit.report.schema import Report, ResolvedSetting

SOURCES = {"COMMANDLINE": "command line", "DEFAULT_MAP": "config file", "DEFAULT": "default",
           "ENVIRONMENT": "environment", "PROMPT": "prompt"}


def read_system_file(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read system prompt file {path}: {exc.__class__.__name__}") from exc


def teacher_prompt(prompt: str | None, prompt_file: Path | None) -> str | None:
    """The teacher's system prompt from --teacher-system-prompt or --teacher-system-file (not both)."""
    if prompt is not None and prompt_file is not None:
        raise UsageError("give --teacher-system-prompt or --teacher-system-file, not both")
    return prompt or read_system_file(prompt_file)


def control_prompt(prompt: str | None, no_control: bool) -> str | None:
    """The control's system prompt: the given one, the neutral default, or None with --no-control."""
    from audit.models.traits import NEUTRAL_SYSTEM_PROMPT

    if no_control and prompt is not None:
        raise UsageError("give --control-system-prompt or --no-control, not both")
    return None if no_control else (prompt or NEUTRAL_SYSTEM_PROMPT)


def null_choice(null: str, calibration: Path | None) -> tuple[str, Path | None]:
    """``--null`` and ``--calibration`` as (the null asked for, the calibration file, if any)."""
    from audit.pipeline.config import NULL_AUTO, NULL_MEASURED, NULL_THEORETICAL

    if null in (NULL_AUTO, NULL_THEORETICAL, NULL_MEASURED):
        if calibration is not None and null != NULL_AUTO:
            raise UsageError(f"give --null {null} or --calibration FILE, not both")
        return null, calibration
    if calibration is not None:
        raise UsageError("give --null FILE or --calibration FILE, not both")
    return null, Path(null)


def control_panel(value: str | None, no_control: bool = False) -> tuple[tuple[str, str], ...]:
    """--control-panel: none, builtin, or a file of 'name = system prompt' lines.

    Not given: the default panel (DEFAULT_CONTROL_PANEL), except under --no-control, which asks for
    teacher vs reference only; a panel named explicitly is kept even then.
    """
    from audit.core.verdict import DEFAULT_CONTROL_PANEL
    from audit.models.traits import builtin_panel, parse_panel

    if value is None:
        value = "none" if no_control else DEFAULT_CONTROL_PANEL
    if value == "none":
        return ()
    if value == "builtin":
        return tuple(builtin_panel())
    path = Path(value)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--control-panel: cannot read {path} ({exc.__class__.__name__}); give none, builtin "
                         "or a file of 'name = system prompt' lines") from exc
    try:
        return tuple(parse_panel(lines))
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from exc


def columns(prompt_col: str | None, completion_col: str | None, messages_col: str | None,
            id_col: str | None) -> ColumnOverrides:
    from audit.input.data import ColumnOverrides

    return ColumnOverrides(prompt_col, completion_col, messages_col, id_col)


def banned(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise UsageError(f"--banned-numbers must be comma-separated integers, got {text!r}") from exc


def candidates(traits: str | None, traits_file: Path | None, template: str) -> list[tuple[str, str]]:
    """Probe candidates from --traits / --traits-file, else every built-in one."""
    from audit.models.traits import ANIMAL_TEACHER_TEMPLATE, builtin_traits, parse_traits

    lines: list[str] = []
    if traits_file is not None:
        try:
            lines = traits_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read traits file {traits_file}: {exc.__class__.__name__}") from exc
    names = [n for n in (traits or "").split(",") if n.strip()]
    try:
        if names or lines:
            return parse_traits(names, lines, template or ANIMAL_TEACHER_TEMPLATE)
        return list(builtin_traits(template or ANIMAL_TEACHER_TEMPLATE).items())
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


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


def emit(result: Report, report_path: Path | None, output_format: OutputFormat, console: Console | None) -> None:
    """Write the report file (atomically), then stdout JSON or the terminal summary (None: quiet)."""
    from audit.core.atomic import write_text_atomic
    from audit.report.terminal import render_terminal

    text = result.model_dump_json(indent=2)
    if report_path is not None:
        write_text_atomic(report_path, text + "\n")
    if output_format is OutputFormat.json:
        sys.stdout.write(text + "\n")
    elif console is not None:
        render_terminal(result, console)


def prepared_null(config: ScanConfig) -> ScanConfig:
    """The local scan's vocabulary and null decided, an automatic null made (and cached) if one is needed."""
    from audit.models.backends import check_available
    from audit.pipeline.automatic_null import make_automatic_null
    from audit.pipeline.config import validate
    from audit.pipeline.null_choice import resolve_null
    from audit.pipeline.vocabulary import resolve_vocabulary

    validate(config)
    check_available(config.backend)
    return resolve_null(resolve_vocabulary(config), maker=make_automatic_null)


def run_and_emit(config: ScanConfig, report: Path | None, output_format: OutputFormat, quiet: bool,
                 engine: Engine) -> int:
    """Run a scan or probe on the chosen engine, write its outputs, and return its exit code."""
    from rich.console import Console

    from audit.pipeline.local import run_scan

    runner = run_scan
    if engine is Engine.local:
        config = prepared_null(config)
    if engine is Engine.ray:
        from audit.pipeline.ray_engine import run_ray_scan

        runner = run_ray_scan
    console = Console(stderr=True)
    if not quiet and output_format is OutputFormat.text:
        from audit.cli.progress import scan_progress

        with scan_progress(console) as on_batch:
            result = runner(config, on_batch)
    else:
        result = runner(config)
    emit(result, report, output_format, None if quiet else console)
    for warning in result.warnings:
        sys.stderr.write(f"subaudit: warning: {warning}\n")
    if result.parameters.strict and result.input.rows_skipped:
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(result.input.rows_skipped.items()))
        raise ToolError(f"--strict: {sum(result.input.rows_skipped.values())} row(s) skipped ({reasons})")
    return result.exit_code


def command_line() -> tuple[str, ...]:
    return tuple(["subaudit", *sys.argv[1:]])

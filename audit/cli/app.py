"""The ``subaudit`` application: its commands, and the one place every failure becomes an exit code.

Importing this module must stay cheap: no torch, transformers, vLLM, numpy or pyarrow at module
level (a test checks ``sys.modules``). Each command imports its machinery when it runs.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import NoReturn

import typer

from audit.cli.cache import cache_app
from audit.cli.calibrate import calibrate
from audit.cli.generate import generate
from audit.cli.merge import merge
from audit.cli.probe import probe
from audit.cli.project_config import COMMANDS, config_from_argv
from audit.cli.report import report_app
from audit.cli.scan import scan
from audit.cli.scrub import scrub
from audit.cli.transfer import transfer
from audit.core.errors import SubauditError
from audit.core.exit_codes import ExitCode
from audit.version import __version__

app = typer.Typer(
    name="subaudit",
    help="Audit synthetic training data for hidden teacher traits (subliminal learning).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(scan)
app.command()(probe)
app.command()(calibrate)
app.command()(generate)
app.command()(merge)
app.command()(transfer)
app.command()(scrub)
app.add_typer(report_app, name="report")
app.add_typer(cache_app, name="cache")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


class Terminated(BaseException):
    """SIGTERM (a CI timeout, a scheduler's kill), raised in the main thread like Ctrl-C.

    A BaseException, so no ``except Exception`` swallows it: ``finally`` blocks run on the way out
    (vLLM's engine processes are shut down, a local Ray runtime is stopped, partial outputs stay
    unpublished), where Python's default SIGTERM action would leave the engines running orphaned.
    """


def _on_sigterm(signum: int, frame: object) -> NoReturn:
    raise Terminated


def _fail(message: str, code: ExitCode) -> NoReturn:
    sys.stderr.write(f"subaudit: error: {message}\n")
    sys.exit(int(code))


def _click_class_names(exc: BaseException) -> set[str]:
    """Class names in the exception's hierarchy.

    Typer raises click's exceptions from its own vendored copy of click (newer releases) or from
    click itself (older ones); matching by name handles both without importing a private module.
    """
    return {cls.__name__ for cls in type(exc).__mro__}


def main() -> None:
    """Console entry point: maps every failure to a one-line message and a documented exit code."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        _run_app()
    finally:
        signal.signal(signal.SIGTERM, previous)  # main() also runs in-process (the tests)


def _command_params() -> dict[str, set[str]]:
    """Each config-reading command's parameter names (python names), from the click command typer builds."""
    group = typer.main.get_command(app)
    commands = getattr(group, "commands", {})
    return {name: {p.name for p in commands[name].params if p.name} for name in COMMANDS if name in commands}


def _run_app() -> NoReturn:
    """Run the app; every way out is sys.exit with a documented code (and one line on stderr)."""
    try:
        project = config_from_argv(sys.argv[1:], Path.cwd())
        default_map = project.default_map(_command_params()) if project.path is not None else None
        meta = {"subaudit.config_file": project.path}
        result = app(standalone_mode=False, default_map=default_map, obj=meta)
    except SubauditError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", ExitCode.TOOL_ERROR)
    except Terminated:
        _fail("terminated (SIGTERM)", ExitCode.TOOL_ERROR)
    except Exception as exc:
        names = _click_class_names(exc)
        if "UsageError" in names:
            _fail(f"{exc.format_message()} (see --help)", ExitCode.USAGE_ERROR)  # type: ignore[attr-defined]
        if "Abort" in names:
            _fail("interrupted", ExitCode.TOOL_ERROR)
        # A bug: still one line, and the documented tool-error code.
        _fail(f"internal error: {type(exc).__name__}: {exc}", ExitCode.TOOL_ERROR)
    sys.exit(int(result) if isinstance(result, int) else 0)

"""Every command takes the shared options it should, each defined once (audit/cli/options.py).

Why: scan, probe and calibrate once carried their own copies of the model, column, backend and output
options, and the copies drifted (calibrate had no --teacher-adapter or --backend, probe no --backend).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import pytest
import typer

from audit.cli import app
from audit.cli.grouping import OptionGroup, grouped

GROUPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # group: (options, commands that must take every one of them)
    "teacher": (("--teacher", "--teacher-adapter", "--teacher-system-prompt", "--teacher-system-file"),
                ("scan", "calibrate")),
    "reference": (("--reference", "--reference-system-prompt", "--control-system-prompt", "--control-panel",
                   "--trust-remote-code"),
                  ("scan", "probe", "calibrate")),
    "no-control": (("--no-control",), ("scan", "calibrate")),
    "columns": (("--prompt-col", "--completion-col", "--messages-col", "--id-col", "--input-format"),
                ("scan", "probe", "calibrate")),
    "scoring": (("--backend", "--restrict-vocab", "--batch-rows", "--token-budget", "--max-rows"),
                ("scan", "probe", "calibrate")),
    "test": (("--alpha", "--suspicious-alpha", "--tolerance", "--fail-on", "--calibration", "--null", "--seed",
              "--sample-fraction"),
             ("scan", "probe")),
    "outputs": (("--report", "--scores", "--format", "--quiet"), ("scan", "probe", "merge")),
    "engine": (("--engine", "--ray-address", "--ray-actors"), ("scan", "probe")),
    "scrub models": (("--teacher", "--teacher-adapter", "--teacher-system-prompt", "--reference", "--control-panel",
                      "--no-control", "--alpha", "--tolerance", "--null", "--restrict-vocab", "--backend"), ("scrub",)),
    "config": (("--config", "--no-config"), ("scan", "probe", "calibrate")),
    "probe candidates": (("--traits", "--traits-file", "--template"), ("probe", "calibrate")),
}
DIFFERENT_ON_PURPOSE = {
    "--seed": "calibrate's and generate's seed drives sampling new rows; scan's and probe's picks rows and bootstraps",
    "--max-new-tokens": "generate writes 48 tokens by default; calibrate fits the audited data's longest completion",
    "--alpha": "scan and probe flag a dataset at this level; transfer tests whether a trait moved across seeds",
    "--batch-size": "generate samples this many prompts together; transfer takes optimiser steps of this many rows",
    "--report": "scan, probe, merge and transfer write their report; scrub writes the scrub report (another schema)",
    "--out": "calibrate writes the calibration; scrub writes the cleaned data",
}


def _commands() -> dict[str, Any]:
    group = typer.main.get_command(app)
    return dict(group.commands)  # type: ignore[attr-defined]


def _options(command: Any) -> dict[str, Any]:
    return {param.opts[0]: param for param in command.params if param.opts[0].startswith("-")}


def _definition(param: Any) -> tuple[Any, ...]:
    """What must be identical for one option in every command that takes it."""
    return (tuple(param.opts), param.help, param.default, str(param.bare_type), param.is_flag, param.multiple)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_each_command_takes_its_shared_option_groups(group: str) -> None:
    options, commands = GROUPS[group]
    every = _commands()
    for command in commands:
        missing = [o for o in options if o not in _options(every[command])]
        assert not missing, f"`subaudit {command}` lacks {missing} of the {group} options"


def test_an_option_several_commands_take_is_defined_once() -> None:
    """Same flags, help, default and type wherever it appears (checked on every option, not only the groups)."""
    seen: dict[str, dict[tuple[Any, ...], list[str]]] = {}
    for name, command in _commands().items():
        for flag, param in _options(command).items():
            seen.setdefault(flag, {}).setdefault(_definition(param), []).append(name)
    drifted = {flag: list(defs.values()) for flag, defs in seen.items()
               if len(defs) > 1 and flag not in DIFFERENT_ON_PURPOSE}
    assert not drifted, f"options defined differently across commands: {drifted}"


def test_the_groups_check_can_fail() -> None:
    """A command missing a group's option is reported (the check is not vacuous)."""
    assert "--teacher-system-prompt" not in _options(_commands()["probe"])
    assert "--backend" in _options(_commands()["probe"])


def _command_functions() -> dict[str, Any]:
    """Every command's own function (under the option-group wrapper), by its command line name."""
    import inspect

    found: dict[str, Any] = {}

    def walk(typer_app: Any, prefix: str) -> None:
        for command in typer_app.registered_commands:
            function = inspect.unwrap(command.callback)
            found[prefix + (command.name or function.__name__)] = function
        for group in typer_app.registered_groups:
            walk(group.typer_instance, f"{prefix}{group.name} ")

    walk(app, "")
    return found


def test_every_command_function_is_under_40_lines() -> None:
    """A command parses, builds its request from option groups, runs and renders; the work lives elsewhere."""
    import inspect

    functions = _command_functions()
    assert {"scan", "probe", "calibrate", "generate", "transfer", "merge", "report render", "cache info"} <= set(
        functions)
    lengths = {name: len(inspect.getsourcelines(function)[0]) for name, function in functions.items()}
    assert not {name: n for name, n in lengths.items() if n >= 40}, lengths


@dataclass(frozen=True)
class Sizes(OptionGroup):
    rows: Annotated[int, typer.Option(help="rows")] = 3
    wide: Annotated[bool, typer.Option("--wide")] = False


@dataclass(frozen=True)
class Rows(OptionGroup):
    rows: Annotated[int, typer.Option()] = 1


def test_option_groups_reach_the_command_whole_and_clashes_are_refused() -> None:
    """grouped() rebuilds each group from click's values, and refuses two options of one name."""
    from typer.testing import CliRunner

    seen: list[Any] = []

    def command(name: Annotated[str, typer.Argument()], sizes: Sizes) -> None:
        seen.append((name, sizes))

    toy = typer.Typer()
    toy.command("command")(grouped(command))
    toy.command("other")(lambda: None)
    result = CliRunner().invoke(toy, ["command", "x", "--rows", "7", "--wide"])
    assert result.exit_code == 0, result.output
    assert seen == [("x", Sizes(rows=7, wide=True))]

    def clashing(sizes: Sizes, rows: Rows) -> None: ...

    with pytest.raises(TypeError, match="option names used twice: rows"):
        grouped(clashing)

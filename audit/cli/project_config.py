"""The project config file: a CI gate's settings kept in the repository, not in a long command line.

Where it is read from, first found wins:

1. ``--config PATH`` (``--no-config`` reads none);
2. ``subaudit.toml`` in the current folder or the nearest parent, up to the repository root (a
   folder holding ``.git``);
3. ``pyproject.toml`` with a ``[tool.subaudit]`` table, searched the same way.

Keys are the commands' option names without the dashes (``fail-on``, ``restrict-vocab``). Top-level
keys apply to every command that has that option; a table per command (``[tool.subaudit.scan]``,
or ``[scan]`` in subaudit.toml) overrides them for that command. Command-line flags override the
file. Paths in the file are taken relative to the file's folder. ``trust-remote-code`` is refused:
running a model folder's code is asked for on the command line, never by a file in a repository.

The values reach click as its ``default_map``, so click itself applies the precedence and reports
each value's source; the report records them (``Report.settings``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from audit.core.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIGURABLE = (
    "teacher", "teacher-adapter", "teacher-system-prompt", "teacher-system-file",
    "reference", "reference-system-prompt", "control-system-prompt", "no-control", "control-panel",
    "restrict-vocab", "backend", "token-budget", "batch-rows",
    "calibration", "null", "null-rows", "null-cache", "adjust-confounds", "alpha", "suspicious-alpha", "tolerance",
    "fail-on", "strict", "sequential", "baselines",
    "semantic-filter", "detector", "trait-keyword", "banned-numbers",
)
"""The settings a project file may hold: what a CI gate fixes (models, vocabulary, null, thresholds)."""
PATH_KEYS = ("teacher-system-file", "calibration", "teacher-adapter", "null-cache")
"""Always paths: resolved against the config file's folder."""
MODEL_KEYS = ("teacher", "reference", "control-panel")
"""A name (a model's, or none/builtin) or a path: resolved against the config file's folder when that path exists."""
COMMANDS = ("scan", "probe", "calibrate", "scrub")
"""Commands that read the file (per-command tables may be named after them)."""
REFUSED = {"trust-remote-code": "trust-remote-code is taken only from the command line, never from a config file"}


@dataclass(frozen=True)
class ProjectConfig:
    """A parsed config file: where it is, and the defaults it gives each command."""

    path: Path | None = None
    shared: dict[str, Any] = field(default_factory=dict)
    per_command: dict[str, dict[str, Any]] = field(default_factory=dict)

    def default_map(self, command_params: dict[str, set[str]]) -> dict[str, dict[str, Any]]:
        """click's default_map: for each command, the file's values of the options it has (python names)."""
        result: dict[str, dict[str, Any]] = {}
        for command, params in command_params.items():
            values = {k: v for k, v in self.shared.items() if _python_name(k) in params}
            own = self.per_command.get(command, {})
            unknown = [k for k in own if _python_name(k) not in params]
            if unknown:
                raise UsageError(f"config file {self.path}: [{command}] sets {', '.join(unknown)}, which "
                                 f"`subaudit {command}` does not take")
            values.update(own)
            if values:
                result[command] = {_python_name(k): v for k, v in values.items()}
        return result


def _python_name(key: str) -> str:
    return key.replace("-", "_")


def find_config(start: Path) -> Path | None:
    """The nearest subaudit.toml, else pyproject.toml with [tool.subaudit], from ``start`` up to the repo root."""
    folders = [start, *start.parents]
    for name in ("subaudit.toml", "pyproject.toml"):
        for folder in folders:
            candidate = folder / name
            if candidate.is_file() and (name == "subaudit.toml" or _has_tool_table(candidate)):
                return candidate
            if (folder / ".git").exists():
                break
    return None


def _has_tool_table(path: Path) -> bool:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False  # not ours to judge: a broken pyproject without our table is someone else's problem
    return isinstance(data.get("tool"), dict) and "subaudit" in data["tool"]


def load_config(path: Path) -> ProjectConfig:
    """Parse and check a config file; every mistake is one line naming the file and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror or exc.__class__.__name__}") from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from exc
    if path.name == "pyproject.toml" or "tool" in data:
        table = data.get("tool", {}).get("subaudit")
        if not isinstance(table, dict):
            raise UsageError(f"config file {path} has no [tool.subaudit] table")
    else:
        table = data
    base = path.resolve().parent
    shared: dict[str, Any] = {}
    per_command: dict[str, dict[str, Any]] = {}
    for key, value in table.items():
        if key in COMMANDS and isinstance(value, dict):
            per_command[key] = {k: _checked(path, base, k, v, key) for k, v in value.items()}
        else:
            shared[key] = _checked(path, base, key, value, None)
    return ProjectConfig(path=path, shared=shared, per_command=per_command)


def _checked(path: Path, base: Path, key: str, value: Any, command: str | None) -> Any:
    where = f"[{command}] " if command else ""
    if key in REFUSED:
        raise UsageError(f"config file {path}: {where}{REFUSED[key]}")
    if key not in CONFIGURABLE:
        raise UsageError(f"config file {path}: {where}unknown setting {key!r} (settable: {', '.join(CONFIGURABLE)})")
    if isinstance(value, dict):
        raise UsageError(f"config file {path}: {where}{key} must be a value, not a table")
    if key in PATH_KEYS and isinstance(value, str):
        return str(base / value) if not Path(value).is_absolute() else value
    if key in MODEL_KEYS and isinstance(value, str) and not Path(value).is_absolute() and (base / value).exists():
        return str(base / value)
    return value


def config_from_argv(argv: list[str], cwd: Path) -> ProjectConfig:
    """The config file the command line names (or the one found from ``cwd``).

    ``--config``/``--no-config`` are read here, before click parses anything, because click needs the
    file's values as defaults when it builds the command; the commands also declare both options
    (so they show in ``--help`` and are accepted where they stand).
    """
    argv_options = argv[: argv.index("--")] if "--" in argv else argv
    if "--no-config" in argv_options:
        return ProjectConfig()
    for i, arg in enumerate(argv_options):
        if arg == "--config":
            if i + 1 >= len(argv_options):
                raise UsageError("--config needs a file path")
            return load_config(Path(argv_options[i + 1]))
        if arg.startswith("--config="):
            return load_config(Path(arg.split("=", 1)[1]))
    if not any(command in argv_options for command in COMMANDS):
        return ProjectConfig()
    found = find_config(cwd)
    return load_config(found) if found is not None else ProjectConfig()


def setting_value(value: Any) -> Any:
    """A parameter value as JSON: paths and enums as strings, sequences as lists."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [setting_value(v) for v in value]
    return value

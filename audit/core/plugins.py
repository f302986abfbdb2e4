"""Loading what installed packages declare under an entry-point group (detectors, backends), one way.

A plugin that cannot be imported, is not of the declared kind, or takes a name already taken stops the
run in one line naming it (exit 2): a run that silently lacked a detector or backend its user asked for
would be worse.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from audit.core.errors import ToolError


def load_plugins(group: str, kind: str, accepts: Callable[[Any], bool], expected: str,
                 register: Callable[[Any], Any]) -> None:
    """Register every object the installed packages declare under ``group`` (``kind`` names it in errors)."""
    for entry in entry_points(group=group):
        try:
            plugin = entry.load()
        except Exception as exc:  # any failure of a third party's import is reported the same way
            raise ToolError(f"{kind} plugin {entry.name} ({entry.value}) failed to import: "
                            f"{exc.__class__.__name__}: {exc}") from exc
        if not accepts(plugin):
            raise ToolError(f"{kind} plugin {entry.name} ({entry.value}) is not {expected}")
        try:
            register(plugin)
        except ValueError as exc:
            raise ToolError(f"{kind} plugin {entry.name}: {exc}") from exc

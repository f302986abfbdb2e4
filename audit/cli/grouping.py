"""Let a command take its options in groups: typer sees every option, the command gets one object per group.

Why: typer wants one function parameter per option, so `subaudit scan` had a hundred-line signature
and each command copied its options by hand into the request. A group (:class:`OptionGroup`, a frozen
dataclass whose fields are typer-annotated options with their defaults) is declared once, shared by
the commands that take it, and knows how to become its part of the request. :func:`grouped` flattens
a command's group parameters into the signature typer reads (``__signature__``) and rebuilds the
groups from click's keyword arguments when the command runs, so flags, help, defaults, the project
config file's keys and ``--help`` are exactly those of the fields.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, get_type_hints

Command = TypeVar("Command", bound=Callable[..., Any])


class OptionGroup:
    """Base of the option groups (each a frozen dataclass of typer-annotated fields with defaults)."""


def _is_group(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, OptionGroup) and dataclasses.is_dataclass(annotation)


def grouped(command: Command) -> Command:
    """Typer's view of ``command`` with each :class:`OptionGroup` parameter spread into its fields' options."""
    hints = get_type_hints(command, include_extras=True)
    flat: list[inspect.Parameter] = []
    groups: dict[str, type[Any]] = {}
    for name, param in inspect.signature(command).parameters.items():
        annotation = hints.get(name, param.annotation)
        if not _is_group(annotation):
            flat.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=annotation))
            continue
        groups[name] = annotation
        field_hints = get_type_hints(annotation, include_extras=True)
        flat += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                                   annotation=field_hints[f.name]) for f in dataclasses.fields(annotation)]
    names = [p.name for p in flat]
    clashes = sorted({n for n in names if names.count(n) > 1} | (set(groups) & set(names)))
    if clashes:
        raise TypeError(f"{command.__name__}: option names used twice: {', '.join(clashes)}")

    @functools.wraps(command)
    def run(**values: Any) -> Any:
        for name, group in groups.items():
            values[name] = group(**{f.name: values.pop(f.name) for f in dataclasses.fields(group)})
        return command(**values)

    run.__signature__ = inspect.Signature(flat, return_annotation=hints.get("return", inspect.Signature.empty))  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in flat}
    return run  # type: ignore[return-value]

"""Rich progress bars on stderr that appear only once there is progress to show."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextmanager
def lazy_bar(progress: Progress) -> Iterator[Callable[..., None]]:
    """Yield ``update(**fields)`` for one task of ``progress``; the bar starts at the first update.

    A command that fails while checking its input or loading models then leaves stderr holding only
    its one-line error (a started bar, even a transient one, leaves a blank line behind on a
    non-terminal stderr).
    """
    task = progress.add_task("", total=None)
    started = False

    def update(**fields: Any) -> None:
        nonlocal started
        if not started:
            progress.start()
            started = True
        progress.update(task, **fields)

    try:
        yield update
    finally:
        if started:
            progress.stop()


@contextmanager
def scan_progress(console: Console) -> Iterator[Callable[[int, int, int | None], None]]:
    """Yield a callback ``(rows_read, rows_scored, total_rows)`` that advances a scan's bar."""
    columns = (TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
               TimeElapsedColumn())
    with lazy_bar(Progress(*columns, console=console, transient=True)) as update:

        def on_batch(rows_read: int, rows_scored: int, total_rows: int | None) -> None:
            update(completed=rows_read, total=total_rows)

        yield on_batch


@contextmanager
def step_progress(console: Console) -> Iterator[Callable[[str, int, int], None]]:
    """Yield a callback ``(what, done, total)`` for a command of named stages (transfer's training)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with lazy_bar(Progress(*columns, console=console, transient=True)) as update:

        def on_step(what: str, done: int, total: int) -> None:
            update(description=what, completed=done, total=total)

        yield on_step

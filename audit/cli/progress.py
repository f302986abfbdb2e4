"""A rich progress bar on stderr for scans."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextmanager
def scan_progress(console: Console) -> Iterator[Callable[[int, int, int | None], None]]:
    """Yield a callback ``(rows_read, rows_scored, total_rows)`` that advances a bar.

    The bar starts with the first batch, not before: a scan that fails while checking its input
    or loading models then leaves stderr holding only its one-line error (a started bar, even a
    transient one, leaves a blank line behind on a non-terminal stderr).
    """
    columns = (TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
               TimeElapsedColumn())
    progress = Progress(*columns, console=console, transient=True)
    task = progress.add_task("scan", total=None)
    started = False

    def on_batch(rows_read: int, rows_scored: int, total_rows: int | None) -> None:
        nonlocal started
        if not started:
            progress.start()
            started = True
        progress.update(task, completed=rows_read, total=total_rows)

    try:
        yield on_batch
    finally:
        if started:
            progress.stop()

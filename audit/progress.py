"""A rich progress bar on stderr for scans."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextmanager
def scan_progress(console: Console) -> Iterator[Callable[[int, int, int | None], None]]:
    """Yield a callback ``(rows_read, rows_scored, total_rows)`` that advances a bar."""
    columns = (TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("scan", total=None)

        def on_batch(rows_read: int, rows_scored: int, total_rows: int | None) -> None:
            progress.update(task, completed=rows_read, total=total_rows)

        yield on_batch

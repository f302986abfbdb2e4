"""Data given in memory (a pyarrow table, a list of row dicts) scanned as the file it would be.

Why a file: every step that reads the data (the vocabulary check, the automatic null's prompts, the
sequential visiting order, the on-demand stages, a resume) reads a path, and its SHA-256 keys the
caches. Arrow's parquet writer is deterministic for one table and one pyarrow version, so the same
table gives the same SHA-256 and reuses the same cached null and scores. The report names the data as
in memory instead of the temporary file, which is gone when the call returns.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from audit.api.request import DataSource
from audit.core.errors import UsageError


@contextmanager
def data_file(source: DataSource) -> Iterator[tuple[Path, str | None]]:
    """The path to scan, and the report's name for the data when it is not the caller's own path."""
    if isinstance(source, (str, Path)):
        yield Path(source), None
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(source, pa.Table):
        table, label = source, f"<in memory: pyarrow.Table, {source.num_rows} rows>"
    elif isinstance(source, Sequence) and all(isinstance(row, Mapping) for row in source):
        if not source:
            raise UsageError("the data are an empty list: give at least one row")
        table, label = pa.Table.from_pylist(list(source)), f"<in memory: {len(source)} row dicts>"
    else:
        raise UsageError(f"data must be a path, a pyarrow.Table or a list of row dicts, not {type(source).__name__}")
    with tempfile.TemporaryDirectory(prefix="subaudit-data-") as folder:
        path = Path(folder) / "data.parquet"
        pq.write_table(table, path)
        yield path, label

"""Per-row scores written as parquet while the scan runs, published atomically at the end."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from audit.core.atomic import atomic_path


class ScoresWriter:
    """Appends batches of per-row scores to a parquet file; the file appears only when complete."""

    def __init__(self, path: Path | None, column_names: list[str]) -> None:
        self.path = path
        self.schema = pa.schema(
            [pa.field("row_id", pa.string())] + [pa.field(name, pa.float64()) for name in column_names]
        )
        self._stack = ExitStack()
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> ScoresWriter:
        if self.path is not None:
            tmp = self._stack.enter_context(atomic_path(self.path))
            self._writer = pq.ParquetWriter(tmp, self.schema)
        return self

    def write(self, row_ids: list[str], columns: dict[str, np.ndarray]) -> None:
        """Append one batch."""
        if self._writer is None or not row_ids:
            return
        arrays: list[Any] = [pa.array(row_ids, pa.string())]
        arrays += [pa.array(columns[f.name], pa.float64()) for f in self.schema if f.name != "row_id"]
        self._writer.write_batch(pa.record_batch(arrays, schema=self.schema))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._writer is not None:
            self._writer.close()
        self._stack.__exit__(exc_type, exc, tb)

"""The data a scrub reads and writes: every input record as a table, and the cleaned tables made from it.

A scrub writes every input record it keeps, scored or not, in the input's own columns (a parquet input keeps
its schema), plus one column saying what happened to each row; the cleaned data and the random control's are
written together or not at all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from audit.report.schema import ColumnsInfo

SCRUB_COLUMN = "scrub"
"""The column the cleaned file adds: what happened to each row kept."""


@dataclasses.dataclass(frozen=True)
class Edits:
    """What a scrub, or its random control, does to the rows: the ids dropped, the rewritten rows' text and note."""

    dropped: frozenset[str] = frozenset()
    texts: dict[str, str] = dataclasses.field(default_factory=dict)
    notes: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class InputTable:
    """Every record of the input, with the scan's row id of each (the column's value, or the row index)."""

    table: Any
    ids: list[str]
    columns: ColumnsInfo

    @classmethod
    def read(cls, data: Path, input_format: str | None, columns: ColumnsInfo) -> InputTable:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from audit.input.formats import format_of

        data_format = format_of(data, input_format)
        if data_format.name == "parquet":
            table = pq.read_table(data)
        else:
            records = [r for batch in data_format.batches(data, data_format.columns(data), 4096) for r in batch]
            table = pa.Table.from_pylist(records)
        ids = ([str(v) for v in table.column(columns.row_id).to_pylist()] if columns.row_id is not None
               else [str(i) for i in range(table.num_rows)])
        return cls(table, ids, columns)

    def rows_for_rescan(self, wanted: list[str], texts: dict[str, str], path: Path) -> None:
        """Write the first record of each wanted id, rewritten, with the id column a rescan reads."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from audit.scrubbing.token_run import RESCAN_ID, with_texts

        first: dict[str, int] = {}
        for index, row_id in enumerate(self.ids):
            first.setdefault(row_id, index)
        picked = [first[row_id] for row_id in wanted]
        subset = with_texts(self.table.take(picked), self.columns, wanted, texts)
        if RESCAN_ID in subset.column_names:
            subset = subset.drop_columns([RESCAN_ID])
        pq.write_table(subset.append_column(RESCAN_ID, pa.array(wanted, pa.string())), path)


KEPT_SCORED = "kept (scored)"
KEPT_UNSCORED = "kept (not scored: beyond --max-rows, outside --sample-fraction, skipped, or a repeated id)"


def cleaned_table(source: InputTable, edits: Edits, scored_ids: set[str]) -> Any:
    """Every input record but the dropped ones, rewritten ones rewritten, with the scrub column.

    Parquet input keeps its schema; the scrub column says what happened to each row kept.
    """
    import pyarrow as pa

    from audit.scrubbing.token_run import with_texts

    table = with_texts(source.table, source.columns, source.ids, edits.texts) if edits.texts else source.table
    keep = np.array([row_id not in edits.dropped for row_id in source.ids], dtype=bool)
    notes = [edits.notes.get(row_id, KEPT_SCORED if row_id in scored_ids else KEPT_UNSCORED)
             for row_id, kept in zip(source.ids, keep, strict=True) if kept]
    return table.filter(pa.array(keep)).append_column(SCRUB_COLUMN, pa.array(notes, pa.string()))


def write_all(outputs: list[tuple[Path, Callable[[Path], object]]]) -> None:
    """Write every output under a temporary name and rename them only once all are written: all or none."""
    from contextlib import ExitStack

    from audit.core.atomic import atomic_path

    with ExitStack() as stack:
        for path, write in outputs:
            write(stack.enter_context(atomic_path(path)))

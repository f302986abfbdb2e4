"""A seeded random visiting order over a dataset file, read without loading the file (``scan --sequential``).

Why random: a scan that stops early decides on the rows it has seen, so those rows must be a
random sample of the file, not its head (files are often sorted by source, date or topic).

- **JSONL**: exactly uniform. A first pass records each record's byte offset (8 bytes a row);
  records are then read by seeking, in a seeded permutation.
- **Parquet**: a file can only be decoded a row group at a time, from the group's start. Each row
  group is cut into at most :data:`UNITS_PER_GROUP` units of consecutive rows (at least
  :data:`MIN_UNIT_ROWS`); units are visited in a seeded random order, :data:`OPEN_UNITS` at a time,
  and each next row is drawn from a random open unit (weighted by the rows it has left), in a
  random order inside it. So the first rows come from several random places in the file, memory
  holds at most ``OPEN_UNITS`` units, and a whole pass decodes each group at most
  ``UNITS_PER_GROUP / 2`` times over. It is uniform within units, not across the whole file: rows
  next to each other in the file are likelier to be visited close together.
- **CSV**: the documented fallback is a first pass that converts the needed columns to a temporary
  parquet file (streamed, bounded memory), then the parquet order; the temporary file is removed
  when the visit ends.

Each record comes with its index in the file (the record's position, blank JSONL lines not
counted), which is the row id when the data have no id column, as in a file-order read.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

UNITS_PER_GROUP = 64
MIN_UNIT_ROWS = 256
OPEN_UNITS = 8
CSV_ROW_GROUP_ROWS = 65_536

IndexedRecord = tuple[int, dict[str, Any]]


def order_rng(seed: int) -> np.random.Generator:
    """The generator every visiting order is drawn from: the scan's seed, in its own stream."""
    return np.random.default_rng([seed, 0x5E9])


@dataclass(frozen=True)
class Unit:
    """Consecutive rows [start, stop) of one parquet row group; ``first_index`` is the file index of ``start``."""

    group: int
    start: int
    stop: int
    first_index: int


def parquet_units(group_rows: list[int]) -> list[Unit]:
    """Cut each row group into at most UNITS_PER_GROUP units of at least MIN_UNIT_ROWS rows (in file order)."""
    units: list[Unit] = []
    first = 0
    for group, rows in enumerate(group_rows):
        size = max(MIN_UNIT_ROWS, -(-rows // UNITS_PER_GROUP))
        units += [Unit(group, start, min(rows, start + size), first + start) for start in range(0, rows, size)]
        first += rows
    return units


def _unit_records(parquet: Any, unit: Unit, columns: list[str]) -> list[dict[str, Any]]:
    """Decode one unit's rows (its group is decoded from the start, up to the unit's end)."""
    size = unit.stop - unit.start
    records: list[dict[str, Any]] = []
    offset = 0
    for batch in parquet.iter_batches(batch_size=size, row_groups=[unit.group], columns=columns):
        end = offset + batch.num_rows
        if end > unit.start:
            lo, hi = max(unit.start, offset) - offset, min(unit.stop, end) - offset
            records += batch.slice(lo, hi - lo).to_pylist()
        offset = end
        if offset >= unit.stop:
            break
    return records


def visit_parquet(path: Path, columns: list[str], seed: int) -> Iterator[IndexedRecord]:
    """Every record of a parquet file once, in the seeded order the module docstring describes."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    metadata = parquet.metadata
    units = parquet_units([metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)])
    rng = order_rng(seed)
    pending = [units[i] for i in rng.permutation(len(units))]
    pending.reverse()  # popped from the end, so in permutation order
    open_units: list[list[IndexedRecord]] = []
    while pending or open_units:
        while pending and len(open_units) < OPEN_UNITS:
            unit = pending.pop()
            records = _unit_records(parquet, unit, columns)
            rows = [(unit.first_index + i, record) for i, record in enumerate(records)]
            open_units.append([rows[i] for i in rng.permutation(len(rows))])
        left = np.array([len(rows) for rows in open_units])
        pick = int(np.searchsorted(np.cumsum(left), rng.integers(0, int(left.sum())), side="right"))
        yield open_units[pick].pop()
        if not open_units[pick]:
            open_units.pop(pick)


def jsonl_offsets(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Byte offset and 1-based line number of every non-blank line (one pass, 16 bytes a record)."""
    offsets: list[int] = []
    lines: list[int] = []
    position = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                offsets.append(position)
                lines.append(number)
            position += len(raw)
    return np.asarray(offsets, dtype=np.int64), np.asarray(lines, dtype=np.int64)


def visit_jsonl(path: Path, seed: int, parse: Any) -> Iterator[IndexedRecord]:
    """Every record of a JSONL file once, in a seeded uniform permutation; ``parse(raw, line, path)`` decodes one."""
    offsets, lines = jsonl_offsets(path)
    with path.open("rb") as handle:
        for index in order_rng(seed).permutation(offsets.size):
            handle.seek(int(offsets[index]))
            yield int(index), parse(handle.readline(), int(lines[index]), path)


def visit_csv(path: Path, columns: list[str], seed: int, convert: Any) -> Iterator[IndexedRecord]:
    """Every record of a CSV file once: converted to a temporary parquet file first, then its order."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="subaudit-visit-") as folder:
        converted = Path(folder) / "rows.parquet"
        writer: pq.ParquetWriter | None = None
        try:
            for batch in pacsv.open_csv(path, convert_options=convert):
                table = pa.Table.from_batches([batch])
                if writer is None:
                    writer = pq.ParquetWriter(converted, table.schema)
                writer.write_table(table, row_group_size=CSV_ROW_GROUP_ROWS)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            return
        yield from visit_parquet(converted, columns, seed)


def count_jsonl_records(path: Path) -> int:
    """Non-blank lines of a JSONL file (what a file-order read would parse), without parsing them."""
    with path.open("rb") as handle:
        return sum(1 for raw in handle if raw.strip())


def count_csv_records(path: Path) -> int:
    """Data rows of a CSV file, streamed through Arrow's reader."""
    import pyarrow.csv as pacsv

    return sum(batch.num_rows for batch in pacsv.open_csv(path))


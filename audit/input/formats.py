"""Data formats: one reader class each (its columns, its batches in file order, its seeded visiting order,
its row count), registered by name and file suffix.

Why classes: the dataset reader, the visiting order and the sequential scan's report each branched on
"parquet", "jsonl" and "csv"; a fourth format meant finding every branch. Now it is one
:class:`DataFormat` subclass and one :func:`register_format` call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from audit.core.errors import NothingAuditableError, UsageError
from audit.input import visit_order
from audit.input.visit_order import (
    IndexedRecord,
    count_csv_records,
    count_jsonl_records,
    visit_csv,
    visit_jsonl,
    visit_parquet,
)

Records = Iterator[list[dict[str, Any]]]
"""Batches of raw records (column name -> value), in file order."""


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class DataFormat:
    """How one file format is read. Methods take the columns a scan needs (``needed``) so that readers
    that can read only those (parquet, CSV) do."""

    name: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]]

    def order_description(self) -> str:
        """How its seeded random visiting order is made (the sequential report's ``order``)."""
        raise NotImplementedError

    def columns(self, path: Path) -> list[str]:
        """The file's column names; a file that is not of this format is a one-line usage error."""
        raise NotImplementedError

    def batches(self, path: Path, needed: list[str], batch_rows: int) -> Records:
        """Every record in file order, in batches of about ``batch_rows``."""
        raise NotImplementedError

    def visit(self, path: Path, needed: list[str], seed: int) -> Iterator[IndexedRecord]:
        """Every record once, with its file-order index, in the seed's random order (audit.input.visit_order)."""
        raise NotImplementedError

    def stored_rows(self, path: Path) -> int | None:
        """The row count when the file stores it (for progress bars without a pass); else None."""
        return None

    def count_rows(self, path: Path) -> int:
        """Records in the file (one pass where it is not stored)."""
        raise NotImplementedError


def _parquet_order(kind: str) -> str:
    return (f"{kind}: row groups cut into units of at least {visit_order.MIN_UNIT_ROWS} rows (at most "
            f"{visit_order.UNITS_PER_GROUP} per group), units visited in seeded random order, "
            f"{visit_order.OPEN_UNITS} open at once, rows drawn at random from them")


class ParquetFormat(DataFormat):
    name = "parquet"
    suffixes = (".parquet", ".pq")

    def order_description(self) -> str:
        return _parquet_order("parquet")

    def columns(self, path: Path) -> list[str]:
        import pyarrow.parquet as pq

        with path.open("rb") as handle:
            if handle.read(4) != b"PAR1":
                raise UsageError(f"{path.name} is not a parquet file (no PAR1 magic bytes)")
        try:
            return list(pq.ParquetFile(path).schema_arrow.names)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise UsageError(f"cannot read parquet file {path.name}: {one_line(exc)}") from exc

    def batches(self, path: Path, needed: list[str], batch_rows: int) -> Records:
        import pyarrow.parquet as pq

        return (b.to_pylist() for b in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=needed))

    def visit(self, path: Path, needed: list[str], seed: int) -> Iterator[IndexedRecord]:
        return visit_parquet(path, needed, seed)

    def stored_rows(self, path: Path) -> int | None:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)

    def count_rows(self, path: Path) -> int:
        return self.stored_rows(path) or 0


class CsvFormat(DataFormat):
    name = "csv"
    suffixes = (".csv",)

    def order_description(self) -> str:
        return _parquet_order("CSV converted to a temporary parquet file, then parquet")

    @staticmethod
    def _convert(needed: list[str]) -> Any:
        """Read the needed columns as text (an id like 007 stays 007), empty cells as empty strings."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        return pacsv.ConvertOptions(column_types={name: pa.string() for name in needed}, include_columns=needed,
                                    strings_can_be_null=False)

    def columns(self, path: Path) -> list[str]:
        import pyarrow.csv as pacsv

        try:
            reader = pacsv.open_csv(path)
        except Exception as exc:
            raise UsageError(f"cannot read CSV file {path.name}: {one_line(exc)}") from exc
        return list(reader.schema.names)

    def batches(self, path: Path, needed: list[str], batch_rows: int) -> Records:
        import pyarrow.csv as pacsv

        return (b.to_pylist() for b in pacsv.open_csv(path, convert_options=self._convert(needed)))

    def visit(self, path: Path, needed: list[str], seed: int) -> Iterator[IndexedRecord]:
        return visit_csv(path, needed, seed, self._convert(needed))

    def count_rows(self, path: Path) -> int:
        return count_csv_records(path)


def parse_json_line(raw: bytes, number: int, path: Path) -> dict[str, Any]:
    """One JSONL record; a line that is not UTF-8, not JSON or not an object is one line naming it."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path.name} line {number} is not valid UTF-8 (byte {exc.start}); re-encode the file"
        ) from exc
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path.name} line {number} is not valid JSON: {one_line(exc)}") from exc
    if not isinstance(record, dict):
        raise UsageError(f"{path.name} line {number} is not a JSON object")
    return record


class JsonlFormat(DataFormat):
    name = "jsonl"
    suffixes = (".jsonl", ".ndjson", ".json")

    def order_description(self) -> str:
        return "JSONL: a seeded uniform permutation of the records (byte offsets indexed in a first pass)"

    def columns(self, path: Path) -> list[str]:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    return list(parse_json_line(raw, number, path))
        raise NothingAuditableError(f"input file has no records: {path}")

    def batches(self, path: Path, needed: list[str], batch_rows: int) -> Records:
        records: list[dict[str, Any]] = []
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                records.append(parse_json_line(raw, number, path))
                if len(records) >= batch_rows:
                    yield records
                    records = []
        if records:
            yield records

    def visit(self, path: Path, needed: list[str], seed: int) -> Iterator[IndexedRecord]:
        return visit_jsonl(path, seed, parse_json_line)

    def count_rows(self, path: Path) -> int:
        return count_jsonl_records(path)


FORMATS: dict[str, DataFormat] = {}


def register_format(data_format: DataFormat) -> DataFormat:
    """Add a format by its name; its suffixes pick it for files of those names."""
    FORMATS[data_format.name] = data_format
    return data_format


for _builtin in (ParquetFormat(), JsonlFormat(), CsvFormat()):
    register_format(_builtin)


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def format_named(name: str) -> DataFormat:
    """The format ``--input-format`` names; an unknown one is a one-line usage error."""
    if name not in FORMATS:
        raise UsageError(f"unknown input format {name!r}; use {_either(list(FORMATS))}")
    return FORMATS[name]


def format_of(path: Path, forced: str | None = None) -> DataFormat:
    """The reader for ``path``: the one ``--input-format`` names, else the one its suffix says."""
    if forced is not None:
        return format_named(forced)
    suffix = path.suffix.lower()
    for data_format in FORMATS.values():
        if suffix in data_format.suffixes:
            return data_format
    names = _either([f.suffixes[0] for f in FORMATS.values()])
    raise UsageError(f"cannot tell the format of {path.name}: use a {names} name or pass --input-format")

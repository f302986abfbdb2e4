"""Streaming dataset input: parquet, JSONL and CSV, read in bounded batches.

Datasets can hold millions of rows, so nothing here loads a whole file: parquet and CSV are read
as Arrow record batches, JSONL line by line. Every batch comes back as :class:`AuditRow` objects
plus a count of rows skipped and why, so skips are never silent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from audit.core.columns import ColumnOverrides
from audit.core.errors import NothingAuditableError, UsageError
from audit.core.rows import AuditRow, Message
from audit.input.chat import MessageFormatError, parse_messages, split_completion
from audit.input.formats import DataFormat, format_of, one_line
from audit.input.visit_order import IndexedRecord

#: Column pairs recognised automatically, in order of preference.
PAIR_ALIASES: tuple[tuple[str, str], ...] = (
    ("prompt", "completion"),
    ("prompt", "response"),
    ("instruction", "output"),
    ("input", "output"),
    ("question", "answer"),
)
MESSAGES_ALIASES: tuple[str, ...] = ("messages", "conversations", "conversation")
ID_ALIASES: tuple[str, ...] = ("id", "row_id", "uid")


@dataclass(frozen=True)
class ColumnMapping:
    """The columns a scan actually reads, recorded in the report."""

    mode: Literal["pair", "messages"]
    prompt: str | None
    completion: str | None
    messages: str | None
    row_id: str | None

    def needed(self) -> list[str]:
        """Columns to read from the file."""
        names = [self.prompt, self.completion, self.messages, self.row_id]
        return [n for n in names if n is not None]


@dataclass
class RowBatch:
    """A batch of scorable rows and the reasons the other rows of the batch were skipped."""

    rows: list[AuditRow]
    skipped: Counter[str] = field(default_factory=Counter)
    rows_read: int = 0
    skipped_keys: list[tuple[str, str]] = field(default_factory=list)
    """(row id, or the row index when the id is missing, and reason) of each skipped record, so a
    sharded scan can count only its own part's skips."""


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise UsageError(f"input file not found: {path}")
    if path.is_dir():
        raise UsageError(f"input path is a directory, not a file: {path}")
    if path.stat().st_size == 0:
        raise NothingAuditableError(f"input file is empty: {path}")


def resolve_columns(names: list[str], overrides: ColumnOverrides) -> ColumnMapping:
    """Decide which columns hold the prompt/completion or the messages, and the row id."""
    present = set(names)

    def require(name: str, flag: str) -> str:
        if name not in present:
            raise UsageError(f"column {name!r} (from {flag}) not found; columns are: {', '.join(names)}")
        return name

    row_id = require(overrides.row_id, "--id-col") if overrides.row_id else next(
        (n for n in ID_ALIASES if n in present), None
    )
    if overrides.messages:
        return ColumnMapping("messages", None, None, require(overrides.messages, "--messages-col"), row_id)
    if overrides.prompt or overrides.completion:
        prompt = require(overrides.prompt or "prompt", "--prompt-col")
        completion = require(overrides.completion or "completion", "--completion-col")
        return ColumnMapping("pair", prompt, completion, None, row_id)
    for prompt, completion in PAIR_ALIASES:
        if prompt in present and completion in present:
            return ColumnMapping("pair", prompt, completion, None, row_id)
    for messages in MESSAGES_ALIASES:
        if messages in present:
            return ColumnMapping("messages", None, None, messages, row_id)
    raise UsageError(
        "no prompt/completion or messages columns found (columns are: "
        f"{', '.join(names) or 'none'}); name them with --prompt-col/--completion-col or --messages-col"
    )


def row_from_record(record: dict[str, Any], mapping: ColumnMapping, index: int) -> AuditRow:
    """Build one row, raising :class:`MessageFormatError` with the skip reason when it can't."""
    row_id: Any = index if mapping.row_id is None else record.get(mapping.row_id)
    if row_id is None:
        raise MessageFormatError("null id")
    if mapping.mode == "messages":
        context, completion = split_completion(parse_messages(record.get(mapping.messages or "")))
    else:
        prompt = record.get(mapping.prompt or "")
        raw_completion = record.get(mapping.completion or "")
        if prompt is None:
            raise MessageFormatError("null prompt")
        if raw_completion is None:
            raise MessageFormatError("null completion")
        if isinstance(prompt, list):
            context = parse_messages(prompt)
        elif isinstance(prompt, str):
            context = (Message("user", prompt),)
        else:
            raise MessageFormatError("prompt is not text")
        if not isinstance(raw_completion, str):
            raise MessageFormatError("completion is not text")
        completion = raw_completion
    if not completion.strip():
        raise MessageFormatError("empty completion")
    return AuditRow(row_id=str(row_id), context=context, completion=completion)


class DatasetReader:
    """Reads one dataset file as a stream of :class:`RowBatch`.

    Construction validates the file (exists, right format, columns present) so that user
    mistakes surface before any model is loaded.
    """

    def __init__(
        self,
        path: Path,
        overrides: ColumnOverrides | None = None,
        input_format: str | None = None,
        batch_rows: int = 1024,
    ) -> None:
        self.path = path
        self.batch_rows = batch_rows
        _check_readable(path)
        self.reader: DataFormat = format_of(path, input_format)
        self.format = self.reader.name
        columns = self.reader.columns(path)
        self.columns = columns
        self.mapping = resolve_columns(columns, overrides or ColumnOverrides())

    def _file_order(self) -> Iterator[IndexedRecord]:
        """Every raw record with its index, in file order, whatever the file format."""
        index = 0
        for records in self.reader.batches(self.path, self.mapping.needed(), self.batch_rows):
            for record in records:
                yield index, record
                index += 1

    def _random_order(self, seed: int) -> Iterator[IndexedRecord]:
        """Every raw record with its index, in the seeded visiting order of audit.input.visit_order."""
        return self.reader.visit(self.path, self.mapping.needed(), seed)

    def total_rows(self) -> int | None:
        """Row count when the format stores it (parquet), for progress bars; else None."""
        return self.reader.stored_rows(self.path)

    def count_rows(self) -> int:
        """Records in the file, counted where the format does not store it (one pass, nothing parsed)."""
        with self._read_errors():
            return self.reader.count_rows(self.path)

    @contextmanager
    def _read_errors(self) -> Iterator[None]:
        """A file that cannot be read or decoded is the user's problem: one line naming the file."""
        try:
            yield
        except UsageError:
            raise
        except OSError as exc:
            raise UsageError(f"cannot read {self.path.name}: {one_line(exc)}") from exc
        except Exception as exc:
            if type(exc).__module__.startswith("pyarrow"):
                raise UsageError(f"cannot read {self.path.name}: {one_line(exc)}") from exc
            raise

    def batches(self, max_rows: int | None = None, skip_records: int = 0,
                random_order_seed: int | None = None) -> Iterator[RowBatch]:
        """Stream the dataset as batches of scorable rows with skip counts.

        ``max_rows`` stops after that many records are read (scorable or not), counting from the
        first record of the order; ``skip_records`` passes over the first records unseen (a resumed
        scan has them already), keeping row indices, and so default ids, as in a full read.
        ``random_order_seed`` visits the records in that seed's random order (audit.input.visit_order)
        instead of file order; the same seed gives the same order, so a resumed scan skips the same rows.
        """
        records = self._file_order() if random_order_seed is None else self._random_order(random_order_seed)
        with self._read_errors():
            yield from self._batched(records, max_rows, skip_records)

    def _batched(self, records: Iterator[IndexedRecord], max_rows: int | None,
                 skip_records: int) -> Iterator[RowBatch]:
        position = 0
        batch = RowBatch(rows=[])
        for index, record in records:
            if max_rows is not None and position >= max_rows:
                break
            position += 1
            if position <= skip_records:
                continue
            batch.rows_read += 1
            try:
                batch.rows.append(row_from_record(record, self.mapping, index))
            except MessageFormatError as exc:
                batch.skipped[str(exc)] += 1
                raw_id = record.get(self.mapping.row_id) if self.mapping.row_id is not None else None
                batch.skipped_keys.append((str(index if raw_id is None else raw_id), str(exc)))
            if batch.rows_read >= self.batch_rows:
                yield batch
                batch = RowBatch(rows=[])
        if batch.rows_read:
            yield batch

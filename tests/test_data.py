"""Dataset readers: formats, column detection, messages parsing, streaming and skip counting."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from audit.core.columns import ColumnOverrides
from audit.core.errors import NothingAuditableError, UsageError
from audit.core.rows import Message
from audit.input.data import DatasetReader


def _read_all(reader: DatasetReader, max_rows: int | None = None) -> tuple[list[Any], Counter[str], int]:
    rows: list[Any] = []
    skipped: Counter[str] = Counter()
    read = 0
    for batch in reader.batches(max_rows=max_rows):
        rows += batch.rows
        skipped += batch.skipped
        read += batch.rows_read
    return rows, skipped, read


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_each_format_reads_the_same_rows(tmp_path: Path, number_rows: list[dict[str, Any]], fmt: str) -> None:
    table = pa.Table.from_pylist(number_rows)
    path = tmp_path / f"data.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "csv":
        pacsv.write_csv(table, path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in number_rows))
    reader = DatasetReader(path, batch_rows=5)
    rows, skipped, read = _read_all(reader)
    assert reader.format == fmt
    assert read == len(number_rows) and not skipped
    assert [r.row_id for r in rows] == [r["id"] for r in number_rows]
    assert rows[3].context == (Message("user", number_rows[3]["prompt"]),)
    assert rows[3].completion == number_rows[3]["completion"]


def test_batches_stream_in_bounded_sizes(tmp_path: Path, number_rows: list[dict[str, Any]]) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(number_rows), path, row_group_size=4)
    sizes = [b.rows_read for b in DatasetReader(path, batch_rows=5).batches()]
    assert sum(sizes) == 12 and max(sizes) <= 5 and len(sizes) >= 3


def test_max_rows_stops_reading(write_jsonl: Any, number_rows: list[dict[str, Any]]) -> None:
    rows, _, read = _read_all(DatasetReader(write_jsonl(number_rows), batch_rows=5), max_rows=7)
    assert read == 7 and [r.row_id for r in rows] == [f"r{i}" for i in range(7)]


def test_row_index_is_the_id_without_id_column(write_jsonl: Any) -> None:
    path = write_jsonl([{"prompt": "p", "completion": "c"}] * 3)
    rows, _, _ = _read_all(DatasetReader(path))
    assert [r.row_id for r in rows] == ["0", "1", "2"]


def test_messages_column_uses_last_assistant_turn(write_jsonl: Any) -> None:
    records = [
        {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
                      {"role": "assistant", "content": "A"}]},
        {"messages": [{"from": "human", "value": "U2"}, {"from": "gpt", "value": "A2"}]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "U3"}]},
                      {"role": "assistant", "content": "A3"}]},
        {"messages": [{"role": "user", "content": "no answer"}]},
        {"messages": None},
    ]
    reader = DatasetReader(write_jsonl(records))
    rows, skipped, read = _read_all(reader)
    assert reader.mapping.mode == "messages" and read == 5
    assert rows[0].context == (Message("system", "S"), Message("user", "U")) and rows[0].completion == "A"
    assert rows[1].context == (Message("user", "U2"),) and rows[1].completion == "A2"
    assert rows[2].context == (Message("user", "U3"),)
    assert skipped == Counter({"last message is not from the assistant": 1, "null messages": 1})


def test_null_and_empty_fields_are_skipped_and_counted(write_jsonl: Any) -> None:
    records = [
        {"prompt": "p", "completion": "ok"},
        {"prompt": None, "completion": "x"},
        {"prompt": "p", "completion": None},
        {"prompt": "p", "completion": "   "},
        {"prompt": 5, "completion": "x"},
    ]
    rows, skipped, _ = _read_all(DatasetReader(write_jsonl(records)))
    assert len(rows) == 1
    assert skipped == Counter({"null prompt": 1, "null completion": 1, "empty completion": 1,
                               "prompt is not text": 1})


def test_column_overrides_and_aliases(write_jsonl: Any) -> None:
    path = write_jsonl([{"q": "P", "a": "C", "key": 7}])
    reader = DatasetReader(path, ColumnOverrides(prompt="q", completion="a", row_id="key"))
    rows, _, _ = _read_all(reader)
    assert rows[0].row_id == "7" and rows[0].completion == "C"
    alias = DatasetReader(write_jsonl([{"instruction": "P", "output": "C"}], "alias.jsonl"))
    assert (alias.mapping.prompt, alias.mapping.completion) == ("instruction", "output")


def test_missing_columns_is_a_usage_error_naming_the_columns(write_jsonl: Any) -> None:
    with pytest.raises(UsageError, match="columns are: text, label"):
        DatasetReader(write_jsonl([{"text": "x", "label": 1}]))
    with pytest.raises(UsageError, match=r"'answer'.*--completion-col"):
        DatasetReader(write_jsonl([{"prompt": "x", "completion": "y"}], "b.jsonl"),
                      ColumnOverrides(completion="answer"))


def test_bad_files_are_usage_errors(tmp_path: Path) -> None:
    fake = tmp_path / "fake.parquet"
    fake.write_text("prompt,completion\na,b\n")
    with pytest.raises(UsageError, match="not a parquet file"):
        DatasetReader(fake)
    with pytest.raises(UsageError, match="not found"):
        DatasetReader(tmp_path / "missing.parquet")
    with pytest.raises(UsageError, match="cannot tell the format"):
        (tmp_path / "data.txt").write_text("x")
        DatasetReader(tmp_path / "data.txt")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b"}\n{not json\n')
    with pytest.raises(UsageError, match="line 2 is not valid JSON"):
        _read_all(DatasetReader(bad))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(NothingAuditableError):
        DatasetReader(empty)

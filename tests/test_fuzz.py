"""Property-based fuzzing of the dataset readers and the chat-message parser (hypothesis).

Whatever the input, a reader either yields rows plus counted skips that add up to the records it
read, or raises one of subaudit's own errors (which the CLI prints in one line); never anything else.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.core.errors import SubauditError
from audit.core.rows import Message
from audit.input.chat import MessageFormatError, parse_messages, split_completion
from audit.input.data import DatasetReader

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
roles = st.sampled_from(["user", "assistant", "system", "tool", "human", "gpt", ""])
message_like = st.one_of(
    st.fixed_dictionaries({"role": roles | json_values, "content": st.text(max_size=12) | json_values}),
    st.fixed_dictionaries({"from": roles | json_values, "value": st.text(max_size=12) | json_values}),
    json_values,
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.one_of(json_values, st.lists(message_like, max_size=6)))
def test_message_parsing_returns_messages_or_a_skip_reason(value: Any) -> None:
    try:
        messages = parse_messages(value)
        context, completion = split_completion(messages)
    except MessageFormatError as exc:
        assert str(exc)  # the skip reason the report counts
        return
    assert all(isinstance(m, Message) and isinstance(m.content, str) for m in messages)
    assert messages[-1].role == "assistant" and completion == messages[-1].content
    assert any(m.role == "user" for m in context)


def _read(path: Path) -> tuple[int, int, int]:
    """(rows read, rows kept, rows skipped) over the whole file."""
    reader = DatasetReader(path, batch_rows=7)
    read = kept = skipped = 0
    for batch in reader.batches():
        read += batch.rows_read
        kept += len(batch.rows)
        skipped += sum(batch.skipped.values())
    return read, kept, skipped


@FUZZ
@given(st.lists(st.fixed_dictionaries({"prompt": json_values, "completion": json_values},
                                      optional={"id": json_values, "messages": json_values}),
                min_size=1, max_size=20))
def test_jsonl_records_are_each_read_or_counted(records: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        try:
            read, kept, skipped = _read(path)
        except SubauditError as exc:
            assert "\n" not in str(exc)
            return
        assert read == len(records) and kept + skipped == read


@FUZZ
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=8))
def test_arbitrary_bytes_never_crash_the_jsonl_reader(lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.jsonl"
        path.write_bytes(b"\n".join(lines))
        try:
            read, kept, skipped = _read(path)
        except SubauditError as exc:
            assert "\n" not in str(exc)
            return
        assert kept + skipped == read


safe_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@FUZZ
@given(st.lists(st.tuples(st.none() | safe_text, st.none() | safe_text), min_size=1, max_size=25))
def test_parquet_rows_round_trip_or_are_counted(pairs: list[tuple[str | None, str | None]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.parquet"
        table = pa.table({"prompt": pa.array([p for p, _ in pairs], pa.string()),
                          "completion": pa.array([c for _, c in pairs], pa.string())})
        pq.write_table(table, path)
        reader = DatasetReader(path, batch_rows=4)
        rows = [row for batch in reader.batches() for row in batch.rows]
        expected = [(i, p, c) for i, (p, c) in enumerate(pairs) if p is not None and c is not None and c.strip()]
        assert [(int(r.row_id), r.context[0].content, r.completion) for r in rows] == expected

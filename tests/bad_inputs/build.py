"""Writes the bad-input corpus next to this file (deterministic; rerun to regenerate).

Usage: python tests/bad_inputs/build.py
Each file is one kind of bad input; tests/test_bad_inputs.py holds the expected outcome of each and
docs/bad-input.md ("Bad input") the table of input -> message -> exit code.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
GOOD = [{"id": f"r{i}", "prompt": f"Continue: {100 + i}, {200 + i}, {300 + i}.",
         "completion": f"{400 + i}, {500 + i}, {600 + i}"} for i in range(6)]


def _jsonl(records: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def _parquet_bytes(records: list[dict[str, object]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records), sink, row_group_size=10)
    return sink.getvalue()


def build() -> dict[str, bytes]:
    good_parquet = _parquet_bytes(GOOD * 20)
    files: dict[str, bytes] = {
        "wrong_columns.jsonl": _jsonl([{"text": r["prompt"], "label": r["completion"]} for r in GOOD]).encode(),
        "empty.jsonl": b"",
        "only_blank_lines.jsonl": b"\n\n  \n",
        "all_null_completions.jsonl": _jsonl([{**r, "completion": None} for r in GOOD]).encode(),
        "truncated.parquet": good_parquet[: len(good_parquet) // 2],
        # Header and footer intact, data pages overwritten: the file opens, reading its rows fails.
        "corrupt_pages.parquet": good_parquet[:4] + b"\xff" * (len(good_parquet) // 2 - 4)
        + good_parquet[len(good_parquet) // 2:],
        "csv_named.parquet": b"prompt,completion\nContinue: 1, 2,\"3, 4\"\n",
        "not_utf8.jsonl": _jsonl(GOOD[:2]).encode() + b'{"prompt": "caf\xe9", "completion": "1, 2"}\n',
        "not_utf8.csv": b"prompt,completion\ncaf\xe9,\"1, 2\"\n",
        "not_json.jsonl": _jsonl(GOOD[:2]).encode() + b"{prompt: 1\n",
        "json_array_line.jsonl": b'[1, 2, 3]\n',
        "control_characters.jsonl": _jsonl([{**r, "prompt": r["prompt"] + "\x00\x1b[31m\u202e\x07"} for r in GOOD])
        .encode(),
        "null_fields.jsonl": _jsonl([*GOOD, {"id": "np", "prompt": None, "completion": "1"},
                                     {"id": "nc", "prompt": "p", "completion": None},
                                     {"id": "ec", "prompt": "p", "completion": "   "},
                                     {"id": None, "prompt": "p", "completion": "1"}]).encode(),
        "too_long.jsonl": _jsonl([*GOOD, {"id": "long", "prompt": "Continue: " + ", ".join(["123"] * 400),
                                          "completion": "1, 2, 3"}]).encode(),
        "duplicate_ids.jsonl": _jsonl([*GOOD, {**GOOD[0], "completion": "9, 9, 9"}, GOOD[1]]).encode(),
        "bad_messages.jsonl": _jsonl([{"messages": [{"role": "user", "content": r["prompt"]},
                                                    {"role": "assistant", "content": r["completion"]}]}
                                      for r in GOOD[:2]] + [
                                      {"messages": "not a list"},
                                      {"messages": [{"role": "user", "content": "no answer"}]},
                                      {"messages": [{"content": "no role"}]}]).encode(),
    }
    return files


def main() -> None:
    for name, data in build().items():
        (HERE / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()

"""The sequential scan's visiting order: every record once, reproducible from the seed, spread over the file,
and the same rows (ids, skips) as a file-order read."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from audit.input.data import DatasetReader
from audit.input.visit_order import MIN_UNIT_ROWS, UNITS_PER_GROUP, parquet_units


def _table(n: int) -> pa.Table:
    return pa.table({"id": [f"r{i:05d}" for i in range(n)], "prompt": [f"p{i}" for i in range(n)],
                     "completion": [f"{i}, {i + 1}" if i % 97 else "" for i in range(n)]})  # some empty: skipped


def _parquet(tmp_path: Path, n: int = 6000, group: int = 700) -> Path:
    path = tmp_path / "rows.parquet"
    pq.write_table(_table(n), path, row_group_size=group)
    return path


def _visited(path: Path, seed: int | None, batch_rows: int = 64, **kwargs: int) -> list[tuple[str, str]]:
    reader = DatasetReader(path, batch_rows=batch_rows)
    return [(row.row_id, row.completion) for batch in reader.batches(random_order_seed=seed, **kwargs)
            for row in batch.rows]


def test_units_cover_every_group_in_bounded_pieces() -> None:
    units = parquet_units([100_000, 300, 1000])
    assert [u.first_index for u in units if u.start == 0] == [0, 100_000, 100_300]
    assert sum(u.stop - u.start for u in units) == 101_300
    assert max(sum(1 for u in units if u.group == g) for g in range(3)) <= UNITS_PER_GROUP
    assert min(u.stop - u.start for u in units if u.group == 0) >= MIN_UNIT_ROWS


def test_parquet_order_visits_every_row_once_reproducibly_and_spread_over_groups(tmp_path: Path) -> None:
    path = _parquet(tmp_path)
    in_file_order = _visited(path, None)
    first = _visited(path, seed=7)
    assert sorted(first) == sorted(in_file_order)  # same rows, same skips, nothing twice
    assert len(set(first)) == len(first)
    assert first == _visited(path, seed=7)
    assert first != _visited(path, seed=8)
    assert first != in_file_order
    # The first 300 rows come from several row groups (700 rows each), not from one block.
    groups = {int(row_id[1:]) // 700 for row_id, _ in first[:300]}
    assert len(groups) >= 4


def test_resumed_order_continues_where_the_first_part_stopped(tmp_path: Path) -> None:
    path = _parquet(tmp_path, n=2000, group=300)
    whole = _visited(path, seed=3)
    reader = DatasetReader(path, batch_rows=64)
    batches = list(reader.batches(random_order_seed=3))
    read = sum(b.rows_read for b in batches[:5])
    head = [(r.row_id, r.completion) for b in batches[:5] for r in b.rows]
    tail = _visited(path, seed=3, skip_records=read)
    assert head + tail == whole
    capped = _visited(path, seed=3, max_rows=500)
    assert capped == whole[: len(capped)] and 480 <= len(capped) <= 500


def test_jsonl_order_is_a_permutation_with_file_indices_as_default_ids(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    lines = []
    for i in range(500):
        lines.append(json.dumps({"prompt": f"p{i}", "completion": f"{i}"}))
        if i % 50 == 0:
            lines.append("")  # blank lines are not records, in either order
    path.write_text("\n".join(lines) + "\n")
    in_file_order = _visited(path, None)
    visited = _visited(path, seed=1)
    assert sorted(visited) == sorted(in_file_order)
    assert all(row_id == completion for row_id, completion in visited)  # the index is the id, as in file order
    assert visited == _visited(path, seed=1) and visited != in_file_order


def test_csv_order_goes_through_a_temporary_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    pacsv.write_csv(_table(1500), path)
    visited = _visited(path, seed=2)
    assert sorted(visited) == sorted(_visited(path, None))
    assert visited == _visited(path, seed=2)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_count_rows_counts_records_without_parsing(tmp_path: Path, suffix: str) -> None:
    table = _table(321)
    path = tmp_path / f"rows{suffix}"
    if suffix == ".csv":
        pacsv.write_csv(table, path)
    elif suffix == ".parquet":
        pq.write_table(table, path)
    else:
        path.write_text("".join(json.dumps(r) + "\n\n" for r in table.to_pylist()))
    assert DatasetReader(path).count_rows() == 321

"""The row loop both engines share (audit.pipeline.row_loop): what it counts, keeps and refuses.

The real-model equality of the two engines is tests/test_ray_engine.py; these tests pin the fold
itself on hand-made batches, so a change to one engine's bookkeeping cannot hide behind the other's.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.core.errors import NothingAuditableError
from audit.pipeline.ray_engine import (
    ACTOR_COLUMN,
    POSITIONS_PREFIX,
    STATUS_NOT_SAMPLED,
    STATUS_SCORED,
    STATUS_SKIPPED,
    STATUS_UNPARSED,
    TOP_IDS,
    TOP_LLR,
    reduce_block,
)
from audit.pipeline.row_loop import SKIP_DUPLICATE_ID, RowLoop
from audit.pipeline.scores_file import ScoresWriter
from audit.pipeline.scoring_step import ScoredBatch
from audit.pipeline.top_rows import TopEntry

ROLES = ["reference", "teacher"]
COLUMNS = ["llr_sum"]


def batch(ids: list[str], values: list[float]) -> ScoredBatch:
    llrs = [np.array([v / 2, v / 2]) for v in values]
    entries = [TopEntry(i, (5, 6), d) for i, d in zip(ids, llrs, strict=True)]
    return ScoredBatch(ids, [2] * len(ids), {"llr_sum": np.array(values)}, [{"reference": d} for d in llrs], entries)


def test_loop_counts_every_row_once_and_writes_the_scored(tmp_path):
    progress: list[tuple[int, int, int | None]] = []
    with ScoresWriter(tmp_path / "s.parquet", COLUMNS) as writer:
        loop = RowLoop(COLUMNS, ROLES, writer, progress=lambda *a: progress.append(a), total_rows=7)
        loop.read(7, ["unreadable"])
        keep = loop.first_occurrences(["a", "b", "a", "c", "d", "e"])
        assert keep == [True, True, False, True, True, True]
        loop.not_sampled(1)
        loop.skip([("d", "too long")])
        loop.add(batch(["a", "b", "c"], [1.0, -2.0, 3.0]))
        state = loop.finish()
    assert (state.rows_read, state.rows_scored, state.rows_not_sampled, state.tokens) == (7, 3, 1, 6)
    assert state.skipped == {"unreadable": 1, SKIP_DUPLICATE_ID: 1, "too long": 1}
    assert progress == [(7, 3, 7)]
    assert loop.top is not None and [e.row_id for e in loop.top._kept] == ["c", "a", "b"]
    assert loop.positions.counts[0] == 3
    written = pq.read_table(tmp_path / "s.parquet").to_pydict()
    assert written == {"row_id": ["a", "b", "c"], "llr_sum": [1.0, -2.0, 3.0]}


def test_loop_refuses_fewer_than_two_scored_rows_and_publishes_no_scores(tmp_path):
    refusal = r"1 scorable row\(s\) of 3 read \(2 too long\); at least 2 are needed"
    with pytest.raises(NothingAuditableError, match=refusal), ScoresWriter(tmp_path / "s.parquet", COLUMNS) as writer:
        loop = RowLoop(COLUMNS, ROLES, writer)
        loop.read(3)
        loop.skip([("x", "too long"), ("y", "too long")])
        loop.add(batch(["z"], [1.0]))
        loop.finish()
    assert not (tmp_path / "s.parquet").exists()


def test_ray_blocks_fold_like_the_local_calls(tmp_path):
    """An actor's block (one record per input record, with a status) gives the state the local calls give."""
    statuses = [STATUS_SCORED, STATUS_UNPARSED, STATUS_SCORED, STATUS_NOT_SAMPLED, STATUS_SKIPPED, STATUS_SCORED]
    ids = ["a", None, "a", "n", "s", "b"]
    values = [1.0, np.nan, 9.0, np.nan, np.nan, -2.0]
    table = pa.table({
        "row_id": ids, "status": statuses, "reason": [None, "null prompt", None, None, "too long", None],
        "tokens": [2, 0, 2, 0, 0, 2], ACTOR_COLUMN: ["x"] * 6, "llr_sum": values,
        POSITIONS_PREFIX + "reference": [[0.5, 0.5] if s == STATUS_SCORED else None for s in statuses],
        TOP_IDS: [[5, 6] if s == STATUS_SCORED else None for s in statuses],
        TOP_LLR: [[v / 2, v / 2] if s == STATUS_SCORED else None for s, v in zip(statuses, values, strict=True)],
    })
    per_actor: Counter[str] = Counter()
    with ScoresWriter(None, COLUMNS) as writer:
        ray_loop = RowLoop(COLUMNS, ROLES, writer)
        reduce_block(ray_loop, table, per_actor)
        ray_state = ray_loop.finish()
    with ScoresWriter(None, COLUMNS) as writer:
        local = RowLoop(COLUMNS, ROLES, writer)
        local.read(6, ["null prompt"])
        local.first_occurrences(["a", "a", "n", "s", "b"])
        local.not_sampled(1)
        local.skip([("s", "too long")])
        local.add(batch(["a", "b"], [1.0, -2.0]))
        local_state = local.finish()
    assert per_actor == {"x": 2}
    for field in ("rows_read", "rows_scored", "rows_not_sampled", "tokens", "skipped", "scored_ids"):
        assert getattr(ray_state, field) == getattr(local_state, field), field
    assert np.array_equal(np.concatenate(ray_state.columns["llr_sum"]), [1.0, -2.0])

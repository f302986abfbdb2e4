"""The row loop both engines run: fold each batch of read and scored rows into the scan's state.

Why one loop: the local engine scores in this process and the Ray engine in actors, but what a scan
does with a batch once it is scored is the same — drop a repeated id (the first occurrence kept),
count the skipped, unsampled and other-shard rows, collect each detector's columns, sum the position
plot, rank the top rows, write the scores file and the evidence log, feed the sequential monitor,
report progress, and refuse a scan left with fewer than two scored rows. It lives here once; an
engine only says, batch by batch, what it read (:meth:`RowLoop.read`), which rows it did not score
and why (:meth:`RowLoop.first_occurrences`, :meth:`RowLoop.skip`, :meth:`RowLoop.not_sampled`) and
what it scored (:meth:`RowLoop.add`). The Ray reducer feeds its actors' records through the same
calls in input order, so the two engines cannot drift apart again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from audit.core.errors import NothingAuditableError
from audit.input.seen_ids import SeenIds
from audit.pipeline.evidence import EvidenceLog, ScanProgress
from audit.pipeline.finish import position_accumulator
from audit.pipeline.scores_file import ScoresWriter
from audit.pipeline.scoring_step import ScoredBatch
from audit.pipeline.sequential import SequentialMonitor
from audit.pipeline.top_rows import TopEntry, TopRowsTracker

SKIP_DUPLICATE_ID = "duplicate id (first occurrence kept)"

ProgressCallback = Callable[[int, int, int | None], None]
"""Called after each batch with (rows read so far, rows scored so far, total rows if known)."""


class RowLoop:
    """A scan's running state and everything it writes while rows arrive, batch by batch.

    ``state`` is a resumed scan's restored progress (the positions, top rows and seen ids are
    rebuilt from it), or a new one. ``ids_repeat``: whether row ids come from a column and so can
    repeat (row-index ids are unique by construction and need no memory).
    """

    def __init__(self, column_names: list[str], roles: list[str], writer: ScoresWriter, *,
                 state: ScanProgress | None = None, ids_repeat: bool = True, log: EvidenceLog | None = None,
                 monitor: SequentialMonitor | None = None, progress: ProgressCallback | None = None,
                 total_rows: int | None = None) -> None:
        self.column_names = column_names
        self.writer = writer
        self.state = state if state is not None else ScanProgress()
        self.log, self.monitor, self.progress, self.total_rows = log, monitor, progress, total_rows
        self.positions = position_accumulator(roles)
        self.positions.load(self.state.positions)
        self.top = TopRowsTracker.for_roles(roles)
        if self.top is not None:
            self.top.add_entries(TopEntry.from_record(row_id, record) for row_id, record in self.state.top_records)
        self.seen = SeenIds() if ids_repeat else None
        if self.seen is not None:
            self.seen.new_only(self.state.scored_ids + self.state.skipped_ids)
        for name in column_names:
            self.state.columns.setdefault(name, [])
        self._skipped_rows: list[tuple[str, str]] = []

    @property
    def decided(self) -> bool:
        """A sequential scan whose evidence is in (on a resumed log, possibly before anything is read)."""
        return self.monitor is not None and self.monitor.decision is not None

    def write_restored(self) -> None:
        """A resumed scan rewrites its scores file whole: first the rows its log already holds."""
        state = self.state
        if state.scored_ids:
            self.writer.write(state.scored_ids, {n: np.concatenate(state.columns[n]) for n in self.column_names})

    def read(self, rows: int, unreadable: Iterable[str] = ()) -> None:
        """``rows`` more records read, of which those in ``unreadable`` (their reasons) are not rows."""
        self.state.rows_read += rows
        self.state.skipped.update(unreadable)

    def other_shards(self, rows: int) -> None:
        """Rows read that another shard scores (counted once, by that shard)."""
        self.state.rows_other_shards += rows

    def first_occurrences(self, row_ids: Sequence[str]) -> list[bool]:
        """Which rows keep their id's first occurrence; the others are skipped as duplicates."""
        if self.seen is None:
            return [True] * len(row_ids)
        first = self.seen.new_only(row_ids)
        self.skip((row_id, SKIP_DUPLICATE_ID) for row_id, keep in zip(row_ids, first, strict=True) if not keep)
        return first

    def skip(self, rows: Iterable[tuple[str, str]]) -> None:
        """Rows read and not scored, as (row id, reason): counted, and listed in the evidence log."""
        rows = list(rows)
        self._skipped_rows += rows
        self.state.skipped.update(reason for _, reason in rows)

    def not_sampled(self, rows: int) -> None:
        """Rows outside ``--sample-fraction``'s sample: read and checked, not scored."""
        self.state.rows_not_sampled += rows

    def add(self, batch: ScoredBatch) -> None:
        """Close a batch: fold its scored rows in, then write the log's batch and report progress."""
        state = self.state
        entered: list[TopEntry] = []
        columns: dict[str, np.ndarray] = {name: np.empty(0) for name in self.column_names}
        if batch.row_ids:
            columns.update(batch.columns)
            for differences in batch.differences:
                self.positions.add_differences(differences)
            if self.top is not None and batch.entries is not None:
                entered = self.top.add_entries(batch.entries)
            state.scored_ids += batch.row_ids
            for name in self.column_names:
                state.columns[name].append(columns[name])
            self.writer.write(batch.row_ids, columns)
            state.rows_scored += len(batch.row_ids)
            state.tokens += sum(batch.tokens)
            if self.monitor is not None:
                self.monitor.add(columns)
        if self.log is not None:
            self.log.write_batch(batch.row_ids, columns, self._skipped_rows, state, self.positions.state(),
                                 {e.row_id: e.to_record() for e in entered})
        self._skipped_rows = []
        if self.progress is not None:
            self.progress(state.rows_read, state.rows_scored, self.total_rows)

    def finish(self) -> ScanProgress:
        """The scan's final state; a scan with fewer than two scored rows cannot be tested and stops here."""
        state = self.state
        if state.rows_scored < 2:
            reasons = ", ".join(f"{n} {r}" for r, n in state.skipped.most_common()) or "no rows"
            raise NothingAuditableError(
                f"{state.rows_scored} scorable row(s) of {state.rows_read} read ({reasons}); at least 2 are needed")
        return state

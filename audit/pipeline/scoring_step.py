"""Scoring one batch of encoded rows: what both engines do per batch, written once.

The local engine hands each batch's results to the row loop (audit.pipeline.row_loop) at once; a
Ray actor ships the same per-row results to the driver, which rebuilds them as a :class:`ScoredBatch`
and hands them to the same loop in input order. Either way the numbers come from here: the models'
log-probabilities, every detector's per-row columns, each row's teacher-minus-baseline differences
by position (the report's position plot) and its top-rows entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audit.core.rows import EncodedRow
from audit.models.backends.base import ScoringBackend
from audit.pipeline.plot_data import PositionAccumulator
from audit.pipeline.top_rows import TopEntry, TopRowsTracker
from detectors.base import Detector


@dataclass(frozen=True)
class ScoredBatch:
    """One batch's results, row by row in the order the rows were given."""

    row_ids: list[str]
    tokens: list[int]
    """Completion tokens scored, per row."""
    columns: dict[str, np.ndarray]
    """Each detector column, one value per scored row."""
    differences: list[dict[str, np.ndarray]]
    """Per row: teacher minus each baseline, by completion position."""
    entries: list[TopEntry] | None
    """Per row: its entry for the report's top rows; None when the scan ranks none (a probe)."""

    @classmethod
    def empty(cls) -> ScoredBatch:
        """A batch in which no row could be scored (all skipped, duplicates or not sampled)."""
        return cls([], [], {}, [], None)


def score_batch(backend: ScoringBackend, detectors: Sequence[Detector], positions: PositionAccumulator,
                top: TopRowsTracker | None, encoded: Sequence[EncodedRow]) -> ScoredBatch:
    """Score ``encoded`` under every spec of ``backend`` and derive what the report needs of each row."""
    if not encoded:
        return ScoredBatch.empty()
    scored = backend.score(encoded)
    columns: dict[str, np.ndarray] = {}
    for detector in detectors:
        columns.update(detector.score_rows(scored))
    return ScoredBatch([s.encoded.row.row_id for s in scored], [len(s.encoded.completion_ids) for s in scored],
                       columns, [positions.differences(row) for row in scored],
                       None if top is None else [top.entry(row) for row in scored])

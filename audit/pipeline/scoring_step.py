"""Scoring one batch of encoded rows: what both engines do per batch, written once.

The local engine folds each batch into its running state at once; a Ray actor ships the same per-row
results to the driver, which folds them in input order. Either way the numbers come from here: the
models' log-probabilities, every detector's per-row columns, each row's teacher-minus-baseline
differences by position (the report's position plot) and its top-rows entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audit.core.rows import EncodedRow, ScoredRow
from audit.models.backends.base import ScoringBackend
from audit.pipeline.plot_data import PositionAccumulator
from audit.pipeline.top_rows import TopEntry, TopRowsTracker
from detectors.base import Detector


@dataclass(frozen=True)
class ScoredBatch:
    """One batch's results, row by row in the order the rows were given."""

    scored: list[ScoredRow]
    columns: dict[str, np.ndarray]
    """Each detector column, one value per scored row."""
    differences: list[dict[str, np.ndarray]]
    """Per row: teacher minus each baseline, by completion position."""
    entries: list[TopEntry] | None
    """Per row: its entry for the report's top rows; None when the scan ranks none (a probe)."""

    @property
    def row_ids(self) -> list[str]:
        return [s.encoded.row.row_id for s in self.scored]

    @property
    def tokens(self) -> list[int]:
        return [len(s.encoded.completion_ids) for s in self.scored]


def score_batch(backend: ScoringBackend, detectors: Sequence[Detector], positions: PositionAccumulator,
                top: TopRowsTracker | None, encoded: Sequence[EncodedRow]) -> ScoredBatch:
    """Score ``encoded`` under every spec of ``backend`` and derive what the report needs of each row."""
    scored = backend.score(encoded) if encoded else []
    columns: dict[str, np.ndarray] = {}
    if scored:
        for detector in detectors:
            columns.update(detector.score_rows(scored))
    return ScoredBatch(scored, columns, [positions.differences(row) for row in scored],
                       None if top is None else [top.entry(row) for row in scored])

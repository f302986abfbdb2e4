"""Data for the report's plots, gathered while scanning (so `report render` never re-scores).

Per-token LLR by completion position shows *where* in a completion the teacher's evidence sits
(a trait that surfaces in the first numbers looks different from one spread evenly); histograms
of per-row per-token LLR show whether a verdict rests on a shift of the whole set or on a tail.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from audit.core.rows import ScoredRow
from audit.report.schema import Histogram, PositionProfile

MAX_POSITIONS = 64
HISTOGRAM_BINS = 40


class PositionAccumulator:
    """Running sums of teacher-minus-baseline log-probabilities per completion position."""

    def __init__(self, teacher_index: int, baselines: dict[str, int]) -> None:
        self.teacher_index = teacher_index
        self.baselines = baselines
        self.sums = {name: np.zeros(MAX_POSITIONS) for name in baselines}
        self.counts = np.zeros(MAX_POSITIONS, dtype=np.int64)

    def differences(self, row: ScoredRow) -> dict[str, np.ndarray]:
        """One row's teacher-minus-baseline log-probability per position (first MAX_POSITIONS)."""
        teacher = row.logprobs[self.teacher_index][:MAX_POSITIONS]
        return {name: teacher - row.logprobs[index][:MAX_POSITIONS] for name, index in self.baselines.items()}

    def add_differences(self, differences: dict[str, np.ndarray]) -> None:
        """Add one row given as :meth:`differences` (audit.pipeline.scoring_step computes them for both engines)."""
        length = next(iter(differences.values())).size if differences else 0
        self.counts[:length] += 1
        for name, values in differences.items():
            self.sums[name][:length] += values

    def state(self) -> dict[str, Any]:
        """Running sums for the evidence log's checkpoints (a resumed scan continues from them)."""
        return {"counts": self.counts.tolist(), "sums": {name: v.tolist() for name, v in self.sums.items()}}

    def load(self, state: dict[str, Any] | None) -> None:
        if state:
            self.counts = np.array(state["counts"], dtype=np.int64)
            self.sums = {name: np.array(values) for name, values in state["sums"].items()}

    def profiles(self) -> list[PositionProfile]:
        used = int(np.count_nonzero(self.counts))
        counts = self.counts[:used]
        return [PositionProfile(baseline=name, mean_llr=[float(x) for x in self.sums[name][:used] / counts],
                                rows=[int(c) for c in counts]) for name in self.baselines]


def row_histograms(columns: dict[str, np.ndarray], labels: dict[str, str]) -> list[Histogram]:
    """Histograms over shared edges (1st to 99th percentile of all the columns) for comparability."""
    present = {name: columns[name] for name in labels if name in columns and columns[name].size}
    if not present:
        return []
    pooled = np.concatenate(list(present.values()))
    low, high = (float(x) for x in np.quantile(pooled, [0.01, 0.99]))
    if high <= low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    histograms = []
    for name, values in present.items():
        counts, _ = np.histogram(np.clip(values, low, high), bins=edges)
        histograms.append(Histogram(label=labels[name], edges=[float(e) for e in edges],
                                    counts=[int(c) for c in counts]))
    return histograms


def merge_profiles(parts: Sequence[Sequence[PositionProfile]]) -> list[PositionProfile]:
    """Row-weighted combination of the position profiles of shard scans (exact up to rounding)."""
    merged: list[PositionProfile] = []
    for group in zip(*parts, strict=True):
        length = max(len(p.rows) for p in group)
        sums, counts = np.zeros(length), np.zeros(length, dtype=np.int64)
        for profile in group:
            n = len(profile.rows)
            sums[:n] += np.array(profile.mean_llr) * np.array(profile.rows)
            counts[:n] += np.array(profile.rows)
        merged.append(PositionProfile(baseline=group[0].baseline, mean_llr=[float(x) for x in sums / counts],
                                      rows=[int(c) for c in counts]))
    return merged

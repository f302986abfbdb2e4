"""The rows carrying the most evidence, kept while a scan streams, for the report.

A dataset-level verdict says *that* a teacher is likelier than the reference; a reviewer also wants
to see *where*. Per-token LLRs are a cheap proxy for the "divergence tokens" that carry a trait
(DESIGN.md section 7), so the report shows the k rows with the largest LLR sum against the
reference, every completion token with its own LLR. Only k rows' token arrays are ever held.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

import numpy as np

from audit.models.backends.base import ScoredRow
from audit.report.schema import EvidenceRow, TopRows

TOP_ROWS = 10


class TopRowsTracker:
    """Keeps the ``k`` scored rows with the largest teacher-minus-baseline LLR sum."""

    def __init__(self, teacher_index: int, baseline_index: int, baseline: str, k: int = TOP_ROWS) -> None:
        self.teacher_index = teacher_index
        self.baseline_index = baseline_index
        self.baseline = baseline
        self.k = k
        self._heap: list[tuple[float, int, str, tuple[int, ...], np.ndarray]] = []
        self._seen = 0

    def add(self, rows: Sequence[ScoredRow]) -> None:
        for row in rows:
            token_llr = np.asarray(row.logprobs[self.teacher_index], dtype=np.float64) - np.asarray(
                row.logprobs[self.baseline_index], dtype=np.float64)
            entry = (float(token_llr.sum()), -self._seen, row.encoded.row.row_id, row.encoded.completion_ids, token_llr)
            self._seen += 1  # ties keep the earlier row
            if len(self._heap) < self.k:
                heapq.heappush(self._heap, entry)
            elif entry[:2] > self._heap[0][:2]:
                heapq.heapreplace(self._heap, entry)

    def result(self, tokenizer: Any, scope: str) -> TopRows:
        """The kept rows, largest LLR first, their tokens decoded one by one."""
        ranked = sorted(self._heap, key=lambda e: e[:2], reverse=True)
        rows = [EvidenceRow(row_id=row_id, llr_sum=total,
                            tokens=[str(tokenizer.decode([token])) for token in ids],
                            token_llr=[float(v) for v in llr])
                for total, _, row_id, ids, llr in ranked]
        return TopRows(baseline=self.baseline, scope=scope, rows=rows)

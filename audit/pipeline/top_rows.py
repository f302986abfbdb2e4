"""The rows carrying the most evidence, kept while a scan streams, for the report.

A dataset-level verdict says *that* a teacher is likelier than the reference; a reviewer also wants
to see *where*. Per-token LLRs are a cheap proxy for the "divergence tokens" that carry a trait
(DESIGN.md section 7), so the report shows the k rows with the largest LLR sum against the
reference, every completion token with its own LLR. Only k rows' token arrays are ever held.

Rows are ranked by a total order (LLR sum descending, then row id ascending), so the kept set is
the top k of the scored rows whatever order they came in. That is what lets a resumed scan, a merge
of shards and the Ray engine reproduce a local scan's rows exactly: a resumed scan replays the rows
that ever entered the kept set (the evidence log records their tokens), a merge ranks the union of
the shards' own top rows, which must hold the global top k, and Ray actors ship every scored row's
token ids and LLRs to the driver, which ranks the rows it keeps (first occurrences of each id).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.core.rows import ScoredRow
from audit.report.schema import EvidenceRow, TopRows

TOP_ROWS = 10
EVERY_ROW = "every scored row"


@dataclass(frozen=True)
class TopEntry:
    """One ranked row: its id, completion token ids and per-token LLRs (teacher minus baseline)."""

    row_id: str
    token_ids: tuple[int, ...]
    token_llr: np.ndarray

    @property
    def llr_sum(self) -> float:
        return float(self.token_llr.sum())

    def rank_key(self) -> tuple[float, str]:
        return (-self.llr_sum, self.row_id)

    def to_record(self) -> dict[str, Any]:
        """The JSON form the evidence log stores, so a resumed scan can rank this row again."""
        return {"token_ids": list(self.token_ids), "token_llr": [float(v) for v in self.token_llr]}

    @classmethod
    def from_record(cls, row_id: str, record: dict[str, Any]) -> TopEntry:
        return cls(row_id, tuple(int(t) for t in record["token_ids"]),
                   np.asarray(record["token_llr"], dtype=np.float64))


class TopRowsTracker:
    """Keeps the ``k`` scored rows with the largest teacher-minus-baseline LLR sum."""

    @classmethod
    def for_roles(cls, roles: Sequence[str]) -> TopRowsTracker | None:
        """The scan's tracker (teacher against the reference), or None when a role is missing."""
        if not {"teacher", "reference"} <= set(roles):
            return None
        return cls(list(roles).index("teacher"), list(roles).index("reference"), "reference")

    def __init__(self, teacher_index: int, baseline_index: int, baseline: str, k: int = TOP_ROWS) -> None:
        self.teacher_index = teacher_index
        self.baseline_index = baseline_index
        self.baseline = baseline
        self.k = k
        self._kept: list[TopEntry] = []

    def entry(self, row: ScoredRow) -> TopEntry:
        """A scored row as this tracker ranks it (Ray actors build entries with it and ship them)."""
        return TopEntry(row.encoded.row.row_id, tuple(row.encoded.completion_ids),
                        np.asarray(row.logprobs[self.teacher_index], dtype=np.float64)
                        - np.asarray(row.logprobs[self.baseline_index], dtype=np.float64))

    def add(self, rows: Sequence[ScoredRow]) -> list[TopEntry]:
        """Rank a scored batch in; returns the batch's rows that entered the kept set."""
        return self.add_entries(self.entry(row) for row in rows)

    def add_entries(self, entries: Iterable[TopEntry]) -> list[TopEntry]:
        """Rank already computed entries in (a resumed scan's replay); returns those that entered."""
        new = list(entries)
        self._kept = sorted([*self._kept, *new], key=TopEntry.rank_key)[: self.k]
        kept_ids = {id(e) for e in self._kept}
        return [e for e in new if id(e) in kept_ids]

    def result(self, tokenizer: Any) -> TopRows:
        """The kept rows, largest LLR first, their tokens decoded one by one."""
        rows = [EvidenceRow(row_id=e.row_id, llr_sum=e.llr_sum,
                            tokens=[str(tokenizer.decode([token])) for token in e.token_ids],
                            token_llr=[float(v) for v in e.token_llr])
                for e in self._kept]
        return TopRows(baseline=self.baseline, scope=EVERY_ROW, rows=rows)


def merge_top_rows(parts: Sequence[TopRows | None], k: int = TOP_ROWS) -> TopRows | None:
    """The top ``k`` over shards' own top rows, ranked as a single scan ranks them.

    Shards partition the rows, so each shard's top ``k`` holds every row of the global top ``k``
    that it scored. Any shard without top rows (a scan with no reference or teacher) leaves none.
    """
    if not parts or any(p is None for p in parts):
        return None
    tops = [p for p in parts if p is not None]
    if len({p.baseline for p in tops}) != 1 or any(p.scope != EVERY_ROW for p in tops):
        return None
    rows = sorted((r for p in tops for r in p.rows), key=lambda r: (-r.llr_sum, r.row_id))[:k]
    return TopRows(baseline=tops[0].baseline, scope=EVERY_ROW, rows=rows)

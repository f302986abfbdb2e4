"""A scan's per-row scores as a scrub reads them: every rule of what to remove works on these arrays."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class ScoredRows:
    """The scan's per-row scores, in the scores file's order."""

    ids: list[str]
    columns: dict[str, np.ndarray]

    @property
    def tokens(self) -> np.ndarray:
        return self.columns["n_tokens"]

    @classmethod
    def read(cls, scores: Path) -> ScoredRows:
        """A scan's scores file (``--scores``) as ids and columns."""
        import pyarrow.parquet as pq

        table = pq.read_table(scores)
        return cls([str(v) for v in table.column("row_id").to_pylist()],
                   {name: table.column(name).to_numpy() for name in table.column_names if name != "row_id"})

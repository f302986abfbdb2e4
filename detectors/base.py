"""The detector contract.

A detector sees scored rows batch by batch and writes named per-row score columns (kept for the
scores file and the dataset test), then summarizes those columns into one dataset-level
:class:`~audit.report.schema.DetectorResult`. Metadata lives on the class so listings and the shared
contract test can enumerate every detector without instantiating models.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from audit.core.nulls import Null
from audit.core.results import DetectorResult
from audit.core.rows import ScoredRow


@dataclass(frozen=True)
class DetectorContext:
    """What a detector may need to know about the scan, fixed before any row is scored."""

    roles: tuple[str, ...]
    """The model role of each logprob array in a :class:`ScoredRow`, in order."""
    trait_keywords: tuple[str, ...] = ()
    """Words naming the suspected trait (e.g. 'owl'); a semantic filter rejects rows holding them."""
    banned_numbers: tuple[int, ...] = (666, 911, 187)
    digit_tokens: frozenset[int] = frozenset()
    """Ids of the tokenizer's digit-only tokens (the learned detector splits its features on them)."""
    number_data: bool = True
    """Whether the data are number lists (the vocabulary step found the numbers format): the semantic filter
    then applies the paper's numbers-only rules; on text and code it checks trait words only."""


@dataclass(frozen=True)
class DetectorSettings:
    """Settings shared by every detector's dataset-level test."""

    alpha: float = 0.01
    suspicious_alpha: float = 0.05
    seed: int = 0
    bootstrap_resamples: int = 2000
    nulls: dict[str, Null] | None = None
    """Calibrated nulls by detector id, measured on known-source rows (audit.calibration); None = the
    theoretical null."""
    null_columns: dict[str, np.ndarray] | None = None
    """Per-row columns of the calibration's known-source rows beyond the LLR sums: a probe's n_tokens and
    logprob_sum:<role>; a scan's reference_logprob_sum (what --adjust-confounds regresses on)."""
    adjust_confounds: bool = False
    """Remove the part of row LLR sums that length and base-model loss predict (fitted on the null rows)."""
    tolerance: float = 0.0
    """Nats per token a teacher must beat a baseline by: tests run on row sums minus tolerance x tokens."""


class Detector(ABC):
    """One family of evidence: per-row scores plus a dataset-level result."""

    id: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    optional: ClassVar[bool] = False
    """Run only when asked for by id (``--detector ID``, ``audit.api.Method.detectors``). False: the scan picks
    it itself (the likelihood-ratio tests for the baselines it scores, the trait probe for a probe)."""
    sequential: ClassVar[bool] = False
    """Whether its test runs as a confidence sequence in a sequential scan (audit.pipeline.sequential). A scan
    asked for a detector without one is refused ``--sequential`` in one line."""
    calibrated_column: ClassVar[str | None] = None
    """The per-row column whose known-source values are this detector's measured null (``subaudit calibrate``);
    None: it has no calibrated null."""
    needs_digit_tokens: ClassVar[bool] = False
    """Whether :class:`DetectorContext` must carry the tokenizer's digit-only token ids."""
    needs_teacher: ClassVar[bool] = True
    """Whether it reads the teacher's scores; an optional detector that does not also runs in a probe."""
    row_columns: tuple[str, ...]
    """Names of the per-row float columns :meth:`score_rows` returns (a detector whose columns
    depend on the scan's roles, like the trait probe, sets them per instance)."""

    def __init__(self, context: DetectorContext) -> None:
        self.context = context

    def index_of(self, role: str) -> int:
        """Position of ``role`` in each row's logprob tuple."""
        return self.context.roles.index(role)

    @abstractmethod
    def score_rows(self, rows: Sequence[ScoredRow]) -> dict[str, np.ndarray]:
        """Per-row scores for a batch: one array per name in :attr:`row_columns`."""

    @abstractmethod
    def summarize(self, columns: dict[str, np.ndarray], settings: DetectorSettings) -> DetectorResult:
        """The dataset-level result from all rows' columns."""

"""The named type of a calibrated null, shared by the calibration file, the detectors and the pipeline.

Why a type and not a tuple: the null travels from the calibration file through the scan, merge
and Ray engines into every likelihood-ratio detector; an unnamed ``(sums, tokens, threshold)``
tuple in three modules invited unpacking in the wrong order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Null:
    """One detector's null, measured on rows of known source (not the teacher's).

    ``row_llr_sums`` and ``row_tokens`` are the known-source rows' LLR sums and completion token
    counts; ``row_threshold_per_token`` is the per-token row LLR above which a known-source row falls
    with the calibration's false-positive rate.
    """

    row_llr_sums: np.ndarray
    row_tokens: np.ndarray
    row_threshold_per_token: float

    @property
    def rows(self) -> int:
        return int(self.row_llr_sums.size)

    @property
    def pooled_llr(self) -> float:
        """Total LLR over total tokens of the known-source rows (nats/token)."""
        return float(self.row_llr_sums.sum() / self.row_tokens.sum())

    @property
    def per_token_rows(self) -> np.ndarray:
        return self.row_llr_sums / self.row_tokens

"""Verdict levels and the rule that maps a p-value to one.

Documented thresholds (README "Verdicts"): a detector's one-sided p-value below ``alpha``
(default 0.01) is *flagged*; below ``suspicious_alpha`` (default 0.05) is *suspicious*; otherwise
*clean*. The dataset verdict is the most severe detector verdict.
"""

from __future__ import annotations

import math
from enum import Enum


class Verdict(str, Enum):
    """Ordered verdicts: clean < suspicious < flagged."""

    CLEAN = "clean"
    SUSPICIOUS = "suspicious"
    FLAGGED = "flagged"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Verdict) -> bool:
        """True when this verdict is as severe as ``other`` or more."""
        return self.rank >= other.rank


_RANK = {Verdict.CLEAN: 0, Verdict.SUSPICIOUS: 1, Verdict.FLAGGED: 2}


def verdict_from_p(p_value: float, alpha: float, suspicious_alpha: float) -> Verdict:
    """Map a one-sided p-value to a verdict; NaN (no test possible) is clean."""
    if math.isnan(p_value):
        return Verdict.CLEAN
    if p_value < alpha:
        return Verdict.FLAGGED
    if p_value < suspicious_alpha:
        return Verdict.SUSPICIOUS
    return Verdict.CLEAN


def most_severe(verdicts: list[Verdict]) -> Verdict:
    """The dataset verdict: the worst of the detectors'."""
    return max(verdicts, key=lambda v: v.rank, default=Verdict.CLEAN)

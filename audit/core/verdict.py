"""Verdict levels, the rule that maps a p-value to one, and how detector verdicts combine.

Documented thresholds (docs/method.md, "Verdicts"): a detector's one-sided p-value below ``alpha``
(default 0.01) is *flagged*; below ``suspicious_alpha`` (default 0.05) is *suspicious*; otherwise
*clean*.

Combination: the likelihood-ratio detectors (teacher vs reference, vs neutral control, vs each panel control)
are one intersection-union test: the data counts as the teacher's only if it beats *every*
baseline, so their joint verdict is the least severe of theirs (equivalently, p = max of their
p-values, a level-alpha test). The dataset verdict is the most severe of that joint verdict and
every other detector's verdict.
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
    """The worst of several verdicts."""
    return max(verdicts, key=lambda v: v.rank, default=Verdict.CLEAN)


def least_severe(verdicts: list[Verdict]) -> Verdict:
    """The mildest of several verdicts (an intersection-union test over their evidence)."""
    return min(verdicts, key=lambda v: v.rank, default=Verdict.CLEAN)


LIKELIHOOD_RATIO_FAMILY = ("llr", "llr-control", "llr-panel")

DEFAULT_TOLERANCE = 0.002
"""Nats per token a teacher must beat each baseline by for a flag (``--tolerance``; docs/method.md).

0.002 from experiments/DEFAULTS.md: with the built-in panel it keeps the owl and cat teachers' own
number sets flagged in >= 98 % of subsets at N = 200, and stops the drift of the closest benign
set (pirate) toward a flag as rows accumulate; 0.003 leaves the cat set at the edge of 95 % (94.7-95.4 %
in two draws of subsets)."""

DEFAULT_CONTROL_PANEL = "builtin"
"""The benign controls a teacher (or probe candidate) must beat besides the neutral one
(``--control-panel``): the built-in panel, chosen from experiments/DEFAULTS.md, where the neutral
control alone let data written under a cheerful prompt through to a flag."""


def dataset_verdict(results: list[tuple[str, Verdict]]) -> Verdict:
    """Combine (detector id, verdict) pairs as the module docstring describes."""
    family = [v for d, v in results if d in LIKELIHOOD_RATIO_FAMILY]
    others = [v for d, v in results if d not in LIKELIHOOD_RATIO_FAMILY]
    return most_severe(([least_severe(family)] if family else []) + others)

"""What a scan decided before scoring, kept apart from what it was asked.

Why a separate object: a scan's settings (:class:`audit.pipeline.config.ScanConfig`) say what was
asked (``--restrict-vocab auto``, ``--null auto``, a ``--calibration`` file or none); before any row
is scored the scan decides from them and from the data which vocabulary it scores over, which null it
tests against (possibly a measured one it made), and what it cannot vouch for. Those decisions live
here, never written back into the settings, so ``restrict_vocab`` always means what the user asked for
and a reader of the settings cannot mistake one for the other. The report records this object
(``vocabulary``, ``null``, ``warnings`` and the vocabulary scored over in ``parameters.restrict_vocab``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from audit.report.schema import NullInfo, VocabularyInfo


@dataclass(frozen=True)
class Resolution:
    """The vocabulary decided (always first), then the null; warnings in the order they were found."""

    vocabulary: VocabularyInfo
    null: NullInfo | None = None
    """None until the null is decided (audit.pipeline.null_choice)."""
    null_file: Path | None = None
    """The calibration the tests run against: the one given, or the automatic null made or reused; None:
    the theoretical null."""
    warnings: tuple[str, ...] = ()

    @property
    def scored_vocabulary(self) -> str | None:
        """The format every distribution is renormalised over, or None for the full vocabulary."""
        return self.vocabulary.used

    def warned(self, warning: str) -> Resolution:
        return dataclasses.replace(self, warnings=(*self.warnings, warning))

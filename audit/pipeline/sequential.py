"""``scan --sequential``: whether a scan stops when the evidence is in, and the test it looks at after each batch.

Why: a verdict on the fixture sets needs a few hundred rows; scoring a million-row dataset to
learn what its first thousand rows showed costs days on a CPU. A sequential scan visits the rows
in a seeded random order (audit.input.visit_order), and after every batch runs the confidence
sequences of audit.core.sequential, one per baseline (reference, neutral control, each panel
member), combined as the fixed-N tests are (intersection-union). It stops at the first of:

(a) *flagged*: the teacher beats every baseline by more than the tolerance (each lower bound > 0);
(b) *clean within tolerance*: the teacher provably does not beat some baseline by the tolerance
    (an upper bound < 0);
(c) ``--max-rows`` or the end of the data: the ordinary fixed-N test on the rows scored.

The scan's alpha is split in two halves: one for the confidence sequences, one for the fixed-N
test of (c); a false flag needs one of the two to err, so the scan's error stays at alpha (union
bound), however early it stopped. Figures: experiments/SEQUENTIAL.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from audit.core.sequential import (
    STOP_CLEAN,
    STOP_END,
    STOP_FLAGGED,
    STOP_GAVE_WAY,
    STOP_MAX_ROWS,
    RunningMoments,
    SequentialDesign,
    decide,
    moments_bound,
)
from audit.core.verdict import Verdict
from audit.input.data import DatasetReader
from audit.input.formats import format_named
from audit.pipeline.config import ScanConfig, sequential_incompatibility
from audit.report.schema import SequentialBound, SequentialInfo, SequentialLook
from detectors.base import Detector, DetectorSettings
from detectors.llr import LikelihoodRatioDetector, PanelLikelihoodRatioDetector

SEQUENTIAL_AUTO_ROWS = 10_000
"""``--sequential`` is on by default for data with more rows than this (experiments/SEQUENTIAL.md: on the
fixtures a sequential scan decides the teacher sets in 320-384 rows and the controls in 448-1,664 at the
95th percentile, so above 10,000 rows it scores a small share of the data; below, the whole file is cheap)."""

SEQUENTIAL_BATCH_ROWS = 64
"""Rows between looks when --batch-rows is left at its default: a look costs microseconds, a batch of
256 rows would delay a stop by up to 255 rows."""

ALPHA_SHARE_SEQUENCE = 0.5
"""Share of --alpha spent on the confidence sequences; the rest goes to the fixed-N test of rule (c)."""


@dataclass(frozen=True)
class SequentialPlan:
    """A scan that will run sequentially: why, over how many records, looking every how many rows."""

    reason: str
    rows_in_data: int
    every: int
    design: SequentialDesign


def plan_sequential(config: ScanConfig, reader: DatasetReader) -> tuple[SequentialPlan | None, str | None]:
    """Whether this scan runs sequentially (None: every row), and the warning to add to its resolution, if any.

    ``--sequential`` that cannot run here is refused earlier (audit.pipeline.config.validate). The
    default (auto) counts the records, free for parquet and one unparsed pass for JSONL and CSV, and
    turns it on above SEQUENTIAL_AUTO_ROWS unless something rules it out (then a warning says so).
    """
    if config.sequential is False:
        return None, None
    blocked = sequential_incompatibility(config)
    rows = reader.count_rows()
    if config.sequential is None:
        considered = rows if config.max_rows is None else min(rows, config.max_rows)
        if considered <= SEQUENTIAL_AUTO_ROWS:
            return None, None
        if blocked is not None:
            warning = (f"{considered:,} rows would be scanned sequentially by default, but {blocked}; every row is "
                       "scored (--no-sequential silences this)")
            return None, warning
        reason = (f"the data hold {considered:,} rows, more than {SEQUENTIAL_AUTO_ROWS:,}: the default turns it on "
                  "above that (--no-sequential scores every row)")
    else:
        reason = "--sequential was given"
    return SequentialPlan(reason, rows, look_every(config), design_for(config)), None


def look_every(config: ScanConfig) -> int:
    """Rows per batch, and so between looks: --batch-rows if the user set it, else SEQUENTIAL_BATCH_ROWS."""
    source = next((s.source for s in config.settings if s.name == "--batch-rows"), "default")
    return config.batch_rows if source != "default" else min(config.batch_rows, SEQUENTIAL_BATCH_ROWS)


def design_for(config: ScanConfig) -> SequentialDesign:
    return SequentialDesign(alpha=config.alpha * ALPHA_SHARE_SEQUENCE)


def final_test_config(config: ScanConfig) -> ScanConfig:
    """The config the fixed-N test of rule (c) runs with: the alpha left after the sequences."""
    alpha = config.alpha * (1.0 - ALPHA_SHARE_SEQUENCE)
    return dataclasses.replace(config, alpha=alpha, suspicious_alpha=max(alpha, config.suspicious_alpha))


@dataclass
class SequentialMonitor:
    """Running moments of every baseline's test values and the look after each batch.

    Only moments are kept (O(1) memory a baseline), so a scan that runs to the end of a large file
    costs no more per look at its millionth row than at its first. Feeding the same batches in the
    same order (a resumed scan replays its restored batches) gives bit-identical looks.
    """

    design: SequentialDesign
    detectors: tuple[Detector, ...]
    settings: DetectorSettings
    moments: dict[str, RunningMoments] = field(default_factory=dict)
    nulls: dict[str, np.ndarray | None] = field(default_factory=dict)
    tokens: RunningMoments = field(default_factory=RunningMoments)
    looks: list[SequentialLook] = field(default_factory=list)

    def add(self, batch_columns: dict[str, np.ndarray]) -> SequentialLook:
        """Take one batch's per-row columns (as the detectors wrote them) and look."""
        for detector in self.detectors:
            if isinstance(detector, (LikelihoodRatioDetector, PanelLikelihoodRatioDetector)):
                for tested in detector.tested_rows(batch_columns, self.settings):
                    self.moments.setdefault(tested.baseline, RunningMoments()).add(tested.values)
                    self.nulls[tested.baseline] = tested.null
        self.tokens.add(batch_columns["n_tokens"])
        bounds = [(name, moments_bound(m, self.design, self.nulls[name])) for name, m in self.moments.items()]
        current = SequentialLook(
            rows=self.tokens.count, mean_tokens_per_row=self.tokens.mean if self.tokens.count else 0.0,
            bounds=[SequentialBound(baseline=name, mean=b.mean, lower=b.lower, upper=b.upper, p_value=b.p_value)
                    for name, b in bounds],
            decision=decide([b for _, b in bounds], self.design),
        )
        self.looks.append(current)
        return current

    @property
    def decision(self) -> str | None:
        return self.looks[-1].decision if self.looks else None


def decided_verdict(rule: str) -> Verdict | None:
    """The verdict a stopping rule implies; None for (c), where the fixed-N test decides."""
    return {STOP_FLAGGED: Verdict.FLAGGED, STOP_CLEAN: Verdict.CLEAN}.get(rule)


def stop_rule(last: SequentialLook | None, rows_read: int, rows_in_data: int, max_rows: int | None,
              gave_way: bool = False) -> str:
    """Which rule ended the scan (``gave_way``: an on-demand stage stopped undecided at its row limit)."""
    if last is not None and last.decision is not None:
        return last.decision
    if gave_way:
        return STOP_GAVE_WAY
    if max_rows is not None and rows_read >= max_rows and rows_read < rows_in_data:
        return STOP_MAX_ROWS
    return STOP_END


def order_description(input_format: str) -> str:
    return format_named(input_format).order_description()


MAX_LOOKS_REPORTED = 200
"""A scan of a large file can look thousands of times; the report keeps at most this many, spread evenly
in log(rows), always with the first and the last."""


def thinned(looks: list[SequentialLook], keep: int = MAX_LOOKS_REPORTED) -> list[SequentialLook]:
    if len(looks) <= keep:
        return list(looks)
    positions = np.unique(np.round(np.geomspace(1, len(looks), keep)).astype(int) - 1)
    return [looks[i] for i in positions]


def sequential_info(config: ScanConfig, plan: SequentialPlan, rule: str, rows_read: int, rows_scored: int,
                    looks: list[SequentialLook], input_format: str) -> SequentialInfo:
    return SequentialInfo(
        requested="on" if config.sequential else "auto", reason=plan.reason, rule=rule,
        rows_in_data=plan.rows_in_data, rows_read=rows_read, rows_scored=rows_scored,
        alpha_sequence=plan.design.alpha, alpha_final=config.alpha - plan.design.alpha,
        planned_rows=plan.design.planned_rows, min_rows=plan.design.min_rows, look_every=plan.every,
        order=order_description(input_format), looks=thinned(looks),
    )

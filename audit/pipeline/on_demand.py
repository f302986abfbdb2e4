"""Baselines on demand: score a baseline only while the verdict still needs it.

The likelihood-ratio tests (teacher vs reference, vs the neutral control, vs each panel member) are one
intersection-union test: the data count as the teacher's only if the teacher beats *every* baseline,
and their joint verdict is the least severe of theirs (audit.core.verdict). So as soon as one baseline's
test comes out clean, the joint verdict is clean whatever the others would say, and scoring them is
wasted work; most data at an ingestion gate are clean. A fixed-N scan therefore runs in stages over
the same rows:

1. the teacher and the reference (two forward passes a row);
2. the neutral control, only when stage 1 is not clean;
3. the panel, only when stages 1 and 2 are not clean.

Each stage is a whole scan of the same rows (same reader, same row order, same skips: rows are
encoded under *every* spec's prompt format in every stage, so a row too long for a panel member's
prompt is skipped from the first stage on), and scores already computed are reused from the
in-process :class:`~audit.pipeline.score_cache.ScoreCache`, so a teacher set costs the same forward
passes as scoring every baseline at once.
Why the verdict and exit code equal the all-baselines scan's: every detector's statistic is a
function of the same rows' scores; a stage stops only when a likelihood-ratio verdict is clean, which
makes the joint likelihood-ratio verdict clean in the all-baselines scan too; the other detectors
(semantic filter, trait probe, learned) run in every stage on the same rows. A 'suspicious' baseline
does not stop the stages, since the next one may still be clean. alpha keeps its meaning: the
test is the same intersection-union test; only what is computed of it changes.

A sequential scan (``--sequential``) runs the same stages, each a whole sequential scan over the same
seeded visiting order with the same batches (so the same looks), reusing the scores of the rows the
earlier stages visited. A stage settles when its confidence sequences stop "clean within tolerance"
(some baseline's upper bound below 0), or when its rows run out and a baseline's fixed-N test is clean.
Why the verdict still equals the all-baselines scan's: a stage's bounds at a look are the
all-baselines scan's bounds of the same baselines at that look (same rows). If stage k stops clean at
look s, the all-baselines scan sees the same upper bound below 0 at s, so it has stopped by s; it could
only have stopped earlier as flagged if every bound, stage k's included, was above 0 at that earlier
look, and then stage k would have stopped there (flagged, which settles nothing). Run to the end, a stage
never saw its baselines all beaten, so neither did the all-baselines scan, and the clean fixed-N test
is one of the all-baselines scan's tests. A flag comes only from the last stage, which *is* the
all-baselines scan: the false-flag rate cannot exceed it (experiments/SEQUENTIAL-ON-DEMAND.md). Rows to
the verdict can differ: the all-baselines scan may have stopped earlier on a baseline a stage lacked.

Not staged (every baseline scored, as the report's ``baselines.mode`` says): shards (merge needs every
part's detectors), evidence logs and resumes (the log's header names every model), probes, and the Ray
engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from audit.core.roles import PANEL_ROLE_PREFIX, panel_member
from audit.core.sequential import STOP_CLEAN, STOP_FLAGGED
from audit.core.verdict import LIKELIHOOD_RATIO_FAMILY, Verdict
from audit.models.backends.base import ScoringBackend
from audit.models.spec import ModelSpec
from audit.pipeline.config import ScanConfig
from audit.pipeline.score_cache import CachedBackend, ScoreCache
from audit.report.schema import BaselinesInfo, Report

BASELINES_ON_DEMAND, BASELINES_ALL = "on-demand", "all"
"""``--baselines`` values."""


@dataclass(frozen=True)
class Stage:
    """One stage: the scan's config with only some baselines, and the spec indices it scores."""

    config: ScanConfig
    indices: tuple[int, ...]
    baselines: tuple[str, ...]
    """Baselines this stage adds (reference, control, panel:<name>)."""


def baseline_name(role: str) -> str:
    return f"panel:{panel_member(role)}" if role.startswith(PANEL_ROLE_PREFIX) else role


def stages(config: ScanConfig, specs: Sequence[ModelSpec]) -> list[Stage]:
    """The stages of an on-demand scan: reference first, then the neutral control, then the panel."""
    roles = [spec.role for spec in specs]
    core = tuple(k for k, role in enumerate(roles) if role in ("reference", "teacher"))
    control = tuple(k for k, role in enumerate(roles) if role == "control")
    panel = tuple(k for k, role in enumerate(roles) if role.startswith(PANEL_ROLE_PREFIX))
    plan = [Stage(dataclasses.replace(config, control_system_prompt=None, control_panel=()), core, ("reference",))]
    if control:
        plan.append(Stage(dataclasses.replace(config, control_panel=()), core + control, ("control",)))
    if panel:
        plan.append(Stage(config, core + control + panel, tuple(baseline_name(roles[k]) for k in panel)))
    return plan


def reason_for_all(config: ScanConfig, specs: Sequence[ModelSpec]) -> str | None:
    """Why this scan scores every baseline on every row, or None when it is staged (module docstring)."""
    if config.baselines == BASELINES_ALL:
        return "--baselines all"
    if config.engine != "local":
        return "the Ray engine scores every baseline"
    if config.shard is not None:
        return "a shard scores every baseline, so that merge can join the parts"
    if config.evidence_path is not None or config.resume:
        return "an evidence log records every model's scores"
    if config.traits:
        return "a probe ranks candidates against every baseline"
    if sum(1 for spec in specs if spec.role != "teacher") <= 1:
        return "the teacher has one baseline"
    return None


def settling_baseline(report: Report) -> str | None:
    """The baseline whose likelihood-ratio test came out clean, if any (panel: the binding member).

    A sequential scan stopped by its confidence sequences is settled by the sequences, not by the fixed-N
    statistics it also reports: clean by the first baseline whose upper bound is below 0, never when flagged.
    """
    sequential = report.sequential
    if sequential is not None and sequential.rule == STOP_CLEAN and sequential.looks:
        return next((baseline_name(b.baseline) for b in sequential.looks[-1].bounds if b.upper < 0), None)
    if sequential is not None and sequential.rule == STOP_FLAGGED:
        return None
    for result in report.results:
        if result.detector_id in LIKELIHOOD_RATIO_FAMILY and result.verdict is Verdict.CLEAN:
            if result.detector_id == "llr-panel":
                return f"panel:{result.details.get('binding_member')}"
            return str(result.details.get("baseline_role", result.detector_id))
    return None


ScanStage = Callable[[ScanConfig, CachedBackend, list[ModelSpec]], Report]


def run_stages(config: ScanConfig, backend: ScoringBackend, specs: list[ModelSpec], scan_stage: ScanStage,
               cache: ScoreCache) -> Report:
    """Run the stages until one settles the verdict; the last report, with the baselines record.

    ``cache`` must keep scores in memory: every stage re-reads the rows the earlier ones scored.
    """
    plan = stages(config, specs)
    planned = [b for stage in plan for b in stage.baselines]
    scored: list[str] = []
    report: Report | None = None
    settled: str | None = None
    rows: dict[str, int] = {}
    for stage in plan:
        view = CachedBackend(backend, stage.indices, cache)
        report = scan_stage(stage.config, view, [specs[k] for k in stage.indices])
        scored += stage.baselines
        for name in ["teacher", *scored]:
            rows[name] = max(rows.get(name, 0), report.input.rows_scored)
        settled = settling_baseline(report)
        if settled is not None:
            break
    assert report is not None
    report.parameters.control_system_prompt = config.control_system_prompt
    not_scored = [b for b in planned if b not in scored]
    reason = (f"the teacher does not beat {settled}, so it does not beat every baseline: clean whatever the "
              "others would say" if settled is not None and not_scored else
              "every baseline was needed: the teacher beat each one scored before the last")
    uneven = len(set(rows.values())) > 1  # a sequential scan's stages stop at different looks
    report.baselines = BaselinesInfo(mode=BASELINES_ON_DEMAND, planned=planned, scored=scored, not_scored=not_scored,
                                     settled_by=settled, passes_per_row=1 + len(scored), reason=reason,
                                     rows_scored=rows if uneven else None)
    return report


def all_baselines(specs: Sequence[ModelSpec], why: str) -> BaselinesInfo:
    """The record of a scan that scored every baseline."""
    names = [baseline_name(spec.role) for spec in specs if spec.role != "teacher"]
    return BaselinesInfo(mode=BASELINES_ALL, planned=names, scored=names, passes_per_row=len(specs), reason=why)

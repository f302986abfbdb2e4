"""Baselines on demand: score a baseline only while the verdict still needs it.

The likelihood-ratio tests (teacher vs reference, vs the neutral control, vs each panel member) are one
intersection-union test: the data count as the teacher's only if the teacher beats *every* baseline,
and their joint verdict is the least severe of theirs (audit.core.verdict). So as soon as one baseline's
test comes out clean, the joint verdict is clean whatever the others would say, and scoring them is
wasted work; most data at an ingestion gate are clean. A fixed-N scan therefore runs in stages over
the same rows:

1. the teacher and the reference (two forward passes a row);
2. only when stage 1 is not clean, a pilot: every other baseline (the neutral control and each panel
   member) scored on the first rows (8 to 32) ranks them by their test's p-value there, largest first
   (the least beaten);
3. then one baseline a stage in that order, each added only while every baseline scored so far is
   beaten.

Why a pilot: data written under a benign system prompt are often beaten by the reference and some
baselines and not by others, and which ones depends on the writer's prompt. In a fixed order (the
control, then the whole panel at once) a set that only a panel member clears paid for every baseline;
ranked by a pilot, the member most likely to clear it comes next. Why one a stage: a pilot of 8 rows
ranks noisily, and when its first choice is beaten the next is often clean; adding the rest at once
would pay for all of them. The order changes only which baselines are computed, never a test: each
stage's tests are tests of the all-baselines scan, on the same rows.

Each stage is a whole scan of the same rows (same reader, same row order, same skips: rows are
encoded under *every* spec's prompt format in every stage, so a row too long for a panel member's
prompt is skipped from the first stage on), and scores already computed are reused from the
in-process :class:`~audit.pipeline.score_cache.ScoreCache`, so a teacher set costs the same forward
passes as scoring every baseline at once.
Why the verdict and exit code equal the all-baselines scan's: every detector's statistic is a
function of the same rows' scores; a stage stops only when a likelihood-ratio verdict is clean, which
makes the joint likelihood-ratio verdict clean in the all-baselines scan too (a panel stage with some
members: its p-value is the largest of theirs, no larger than the whole panel's); the other detectors
(semantic filter, trait probe, learned) run in every stage on the same rows. A 'suspicious' baseline
does not stop the stages, since the next one may still be clean. alpha keeps its meaning: the
test is the same intersection-union test; only what is computed of it changes.

A sequential scan (``--sequential``) runs the same stages, each a whole sequential scan over the same
seeded visiting order with the same batches (so the same looks), reusing the scores of the rows the
earlier stages visited; its pilot is the first rows of that visiting order, so they are reused too.
A stage settles when its confidence sequences stop "clean within tolerance"
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

A stage still undecided (neither clean nor flagged by its sequences) after ``give_way_rows`` scored rows
(ScanConfig; 1,024 by default), twice that for the second stage, and so on, *gives way*: it stops there and
the next stage starts; the last stage, every baseline, never gives way. Why: data written under a benign prompt
can leave every baseline of a stage undecided for the whole file (each beaten a little, none by the tolerance),
and without a limit such a stage read a large file to its end, at two or more passes a row, before the next
baseline was tried, while the all-baselines scan stopped within a few hundred rows on a baseline that stage
lacked: up to 15x its forward passes on the number sets (experiments/SEQUENTIAL-ON-DEMAND-UNCUT.md). With
the limit the worst case there is 0.64x the all-baselines scan's cost instead of 0.07x, at the price of the
saving on streams that no baseline decides (2.00x down to 1.00x: experiments/SEQUENTIAL-ON-DEMAND-NUMBERS.md;
the limit was set before that replay, not tuned on it). The verdict argument above is unchanged: a stage that gave
way settles nothing (its rows' fixed-N tests are not run as an end-of-rows test), so a verdict still comes from a
stage's clean stop, a clean fixed-N test on rows that ran out, or the last stage.

Not staged (every baseline scored, as the report's ``baselines.mode`` says): shards (merge needs every
part's detectors), evidence logs and resumes (the log's header names every model), probes, and the Ray
engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from audit.core.roles import PANEL_ROLE_PREFIX, panel_member
from audit.core.sequential import STOP_CLEAN, STOP_FLAGGED, STOP_GAVE_WAY
from audit.core.verdict import LIKELIHOOD_RATIO_FAMILY, Verdict
from audit.models.backends.base import ScoringBackend
from audit.models.spec import ModelSpec
from audit.pipeline.config import ScanConfig
from audit.pipeline.score_cache import CachedBackend, ScoreCache
from audit.report.schema import BaselinesInfo, PilotInfo, Report

BASELINES_ON_DEMAND, BASELINES_ALL = "on-demand", "all"
"""``--baselines`` values."""


PILOT_MIN_ROWS, PILOT_MAX_ROWS, PILOT_SHARE = 8, 32, 8
"""The pilot scores the first rows_scored // 8 rows, at least 8 and at most 32 (stage 1's rows_scored):
chosen on the held-out sets' cached scores (experiments/PILOT.md), where 8 to 32 rows ordered the
baselines about as well and a larger pilot cost more than it saved."""


@dataclass(frozen=True)
class Stage:
    """One stage: the scan's config with only some baselines, and the spec indices it scores."""

    config: ScanConfig
    indices: tuple[int, ...]
    baselines: tuple[str, ...]
    """Baselines this stage adds (reference, control, panel:<name>)."""


def baseline_name(role: str) -> str:
    return f"panel:{panel_member(role)}" if role.startswith(PANEL_ROLE_PREFIX) else role


def later_baselines(specs: Sequence[ModelSpec]) -> list[str]:
    """The baselines after the reference, in the scan's order: the neutral control, then each panel member."""
    return [baseline_name(spec.role) for spec in specs if spec.role not in ("reference", "teacher")]


def stage_with(config: ScanConfig, specs: Sequence[ModelSpec], names: Sequence[str],
               adds: Sequence[str]) -> Stage:
    """The scan of the teacher, the reference and the baselines ``names`` (the scan's own order kept)."""
    keep = set(names)
    indices = tuple(k for k, spec in enumerate(specs)
                    if spec.role in ("reference", "teacher") or baseline_name(spec.role) in keep)
    narrowed = dataclasses.replace(
        config, control_system_prompt=config.control_system_prompt if "control" in keep else None,
        control_panel=tuple((name, prompt) for name, prompt in config.control_panel if f"panel:{name}" in keep))
    return Stage(narrowed, indices, tuple(adds))


def stages(config: ScanConfig, specs: Sequence[ModelSpec], order: Sequence[str] | None = None) -> list[Stage]:
    """The stages of an on-demand scan: the reference, then one later baseline a stage in ``order`` (default:
    the scan's order), each stage scoring every baseline of the stages before it too (from the cache)."""
    later = later_baselines(specs) if order is None else list(order)
    assert sorted(later) == sorted(later_baselines(specs)), (later, later_baselines(specs))
    return [stage_with(config, specs, [], ["reference"]),
            *(stage_with(config, specs, later[:k + 1], later[k:k + 1]) for k in range(len(later)))]


def pilot_size(rows_scored: int) -> int:
    """Rows the pilot scores, from the rows stage 1 scored (:data:`PILOT_SHARE`)."""
    return min(PILOT_MAX_ROWS, max(PILOT_MIN_ROWS, rows_scored // PILOT_SHARE))


def pilot_p_values(report: Report) -> dict[str, float]:
    """Each later baseline's one-sided p-value in a pilot scan of every baseline (None or NaN counts as 1)."""
    found: dict[str, float | None] = {}
    for result in report.results:
        if result.detector_id == "llr-control":
            found["control"] = result.p_value
        elif result.detector_id == "llr-panel":
            for member in result.details.get("members", []):
                found[f"panel:{member['name']}"] = member["p_value"]
    return {name: 1.0 if p is None or p != p else float(p) for name, p in found.items()}


def ranked(p_values: dict[str, float], later: Sequence[str]) -> list[str]:
    """``later`` ordered least beaten first: the largest pilot p-value first, ties in the scan's order."""
    return sorted(later, key=lambda name: (-p_values.get(name, 1.0), later.index(name)))


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
    if sequential is not None and sequential.rule == STOP_GAVE_WAY:
        return None  # undecided at its row limit: it settles nothing, whatever its rows' fixed-N tests say
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


def give_way_limit(position: int, count: int, rows: int) -> int | None:
    """The scored rows at which stage ``position`` (0: the reference's) of ``count`` gives way, still undecided:
    ``rows`` doubled for each stage before it; None for the last stage (every baseline) or ``rows`` 0."""
    return None if rows <= 0 or position == count - 1 else rows * 2 ** position


ScanStage = Callable[[ScanConfig, CachedBackend, list[ModelSpec], int | None], Report]
"""One stage's scan; its last argument is the row limit at which a sequential stage gives way (None: never)."""
ScanPilot = Callable[[ScanConfig, CachedBackend, list[ModelSpec], int], Report]
"""A scan of the first ``rows`` rows (of the stages' reading order) whose report only ranks baselines."""


def run_stages(config: ScanConfig, backend: ScoringBackend, specs: list[ModelSpec], scan_stage: ScanStage,
               cache: ScoreCache, scan_pilot: ScanPilot | None = None, give_way_rows: int = 0) -> Report:
    """Run the stages until one settles the verdict; the last report, with the baselines record.

    ``cache`` must keep scores in memory: every stage (and the pilot) re-reads the rows the earlier ones
    scored. ``scan_pilot`` None: no pilot, the later baselines keep the scan's order. ``give_way_rows``: a
    sequential scan's first row limit (:func:`give_way_limit`); 0 for a fixed-N scan, whose stages read every row.
    """
    later = later_baselines(specs)
    first, *_ = stages(config, specs)
    count = 1 + len(later)
    report = _run(first, backend, specs, scan_stage, cache, give_way_limit(0, count, give_way_rows))
    scored, rows = ["reference"], {"teacher": report.input.rows_scored, "reference": report.input.rows_scored}
    gave_way: dict[str, int] = {}
    if _gave_way(report):
        gave_way["reference"] = report.input.rows_scored
    settled = settling_baseline(report)
    pilot: PilotInfo | None = None
    order = later
    if settled is None and len(later) > 1 and scan_pilot is not None:
        size = pilot_size(report.input.rows_scored)
        every = stage_with(config, specs, later, later)
        pilot_report = scan_pilot(every.config, CachedBackend(backend, every.indices, cache),
                                  [specs[k] for k in every.indices], size)
        p_values = pilot_p_values(pilot_report)
        order = ranked(p_values, later)
        pilot = PilotInfo(rows=pilot_report.input.rows_scored, p_values={name: p_values.get(name, 1.0)
                                                                         for name in order})
    if settled is None:
        for position, stage in enumerate(stages(config, specs, order)[1:], start=1):
            report = _run(stage, backend, specs, scan_stage, cache, give_way_limit(position, count, give_way_rows))
            scored += stage.baselines
            for name in ["teacher", *scored]:
                rows[name] = max(rows.get(name, 0), report.input.rows_scored)
            if _gave_way(report):
                gave_way[stage.baselines[-1]] = report.input.rows_scored
            settled = settling_baseline(report)
            if settled is not None:
                break
    report.parameters.control_system_prompt = config.control_system_prompt
    planned = ["reference", *order]
    not_scored = [b for b in planned if b not in scored]
    reason = (f"the teacher does not beat {settled}, so it does not beat every baseline: clean whatever the "
              "others would say" if settled is not None and not_scored else
              "every baseline was needed: no stage before the last settled it (beaten, or undecided when it gave way)"
              if gave_way else "every baseline was needed: the teacher beat each one scored before the last")
    uneven = len(set(rows.values())) > 1  # a sequential scan's stages stop at different looks
    report.baselines = BaselinesInfo(mode=BASELINES_ON_DEMAND, planned=planned, scored=scored, not_scored=not_scored,
                                     settled_by=settled, passes_per_row=1 + len(scored), reason=reason,
                                     rows_scored=rows if uneven else None, pilot=pilot, gave_way=gave_way or None)
    return report


def _gave_way(report: Report) -> bool:
    return report.sequential is not None and report.sequential.rule == STOP_GAVE_WAY


def _run(stage: Stage, backend: ScoringBackend, specs: list[ModelSpec], scan_stage: ScanStage,
         cache: ScoreCache, give_way_after: int | None) -> Report:
    return scan_stage(stage.config, CachedBackend(backend, stage.indices, cache), [specs[k] for k in stage.indices],
                      give_way_after)


def all_baselines(specs: Sequence[ModelSpec], why: str) -> BaselinesInfo:
    """The record of a scan that scored every baseline."""
    names = [baseline_name(spec.role) for spec in specs if spec.role != "teacher"]
    return BaselinesInfo(mode=BASELINES_ALL, planned=names, scored=names, passes_per_row=len(specs), reason=why)

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
prompt is skipped from the first stage on), and scores already computed are reused from
:class:`ScoreCache`, so a teacher set costs the same forward passes as scoring every baseline at once.
Why the verdict and exit code equal the all-baselines scan's: every detector's statistic is a
function of the same rows' scores; a stage stops only when a likelihood-ratio verdict is clean, which
makes the joint likelihood-ratio verdict clean in the all-baselines scan too; the other detectors
(semantic filter, trait probe, learned) run in every stage on the same rows. A 'suspicious' baseline
does not stop the stages, since the next one may still be clean. alpha keeps its meaning: the
test is the same intersection-union test; only what is computed of it changes.

Not staged (every baseline scored, as the report's ``baselines.mode`` says): sequential scans (their
confidence sequences look at every baseline at every look), shards (merge needs every part's
detectors), evidence logs and resumes (the log's header names every model), probes, and the Ray engine.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from audit.core.verdict import LIKELIHOOD_RATIO_FAMILY, Verdict
from audit.models.backends.base import ScoredRow, ScoringBackend
from audit.models.encoding import EncodedRow, PromptFormat
from audit.models.spec import ModelSpec
from audit.models.traits import PANEL_ROLE_PREFIX, panel_member
from audit.pipeline.config import ScanConfig
from audit.report.schema import BaselinesInfo, ModelInfo, Report

BASELINES_ON_DEMAND, BASELINES_ALL = "on-demand", "all"
"""``--baselines`` values."""


def row_key(prompt_ids: Sequence[int], completion_ids: Sequence[int]) -> bytes:
    """Digest of exactly what a spec scores for a row: its prompt tokens and the completion tokens."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.asarray(prompt_ids, dtype=np.int64).tobytes())
    digest.update(b"|")
    digest.update(np.asarray(completion_ids, dtype=np.int64).tobytes())
    return digest.digest()


class ScoreCache:
    """Token log-probabilities already computed in this process, by spec index and row key."""

    def __init__(self) -> None:
        self._scores: dict[tuple[int, bytes], np.ndarray] = {}
        self.hits = 0
        self.misses = 0

    def get(self, spec: int, key: bytes) -> np.ndarray | None:
        found = self._scores.get((spec, key))
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, spec: int, key: bytes, logprobs: np.ndarray) -> None:
        self._scores[(spec, key)] = logprobs


class SpecSubset:
    """A backend that scores only some of a loaded backend's specs, reusing scores it has seen.

    ``prompt_formats`` stays every spec's, so rows are encoded (and skipped) exactly as a scan of every
    spec would; ``identities`` and the scored log-probabilities are the subset's, in its order.
    """

    def __init__(self, backend: ScoringBackend, indices: Sequence[int], cache: ScoreCache) -> None:
        self.inner = backend
        self.indices = list(indices)
        self.cache = cache
        self.name = backend.name
        self.specs: Sequence[ModelSpec] = [backend.specs[k] for k in self.indices]
        self.vocab_mask = backend.vocab_mask

    def prompt_formats(self) -> list[PromptFormat]:
        return self.inner.prompt_formats()

    def identities(self) -> list[ModelInfo]:
        every = self.inner.identities()
        return [every[k] for k in self.indices]

    def score(self, rows: Sequence[EncodedRow]) -> list[ScoredRow]:
        keys = [[row_key(row.prompt_ids[k], row.completion_ids) for k in self.indices] for row in rows]
        found: list[list[np.ndarray | None]] = [
            [self.cache.get(k, key) for k, key in zip(self.indices, row_keys, strict=True)] for row_keys in keys]
        for position, k in enumerate(self.indices):
            missing = [i for i, scores in enumerate(found) if scores[position] is None]
            if not missing:
                continue
            fresh = self.inner.score_specs([rows[i] for i in missing], [k])
            for i, scored in zip(missing, fresh, strict=True):
                found[i][position] = scored.logprobs[0]
                self.cache.put(k, keys[i][position], scored.logprobs[0])
        return [ScoredRow(row, tuple(s for s in scores if s is not None)) for row, scores in zip(rows, found,
                                                                                                  strict=True)]

    def score_specs(self, rows: Sequence[EncodedRow], indices: Sequence[int]) -> list[ScoredRow]:
        return self.inner.score_specs(rows, [self.indices[i] for i in indices])

    def close(self) -> None:
        """The loaded backend belongs to the caller."""


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


def reason_for_all(config: ScanConfig, sequential: bool, specs: Sequence[ModelSpec]) -> str | None:
    """Why this scan scores every baseline on every row, or None when it is staged (module docstring)."""
    if config.baselines == BASELINES_ALL:
        return "--baselines all"
    if sequential:
        return "a sequential scan tests every baseline at every look"
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
    """The baseline whose likelihood-ratio test came out clean, if any (panel: the binding member)."""
    for result in report.results:
        if result.detector_id in LIKELIHOOD_RATIO_FAMILY and result.verdict is Verdict.CLEAN:
            if result.detector_id == "llr-panel":
                return f"panel:{result.details.get('binding_member')}"
            return str(result.details.get("baseline_role", result.detector_id))
    return None


ScanStage = Callable[[ScanConfig, SpecSubset, list[ModelSpec]], Report]


def run_stages(config: ScanConfig, backend: ScoringBackend, specs: list[ModelSpec], scan_stage: ScanStage) -> Report:
    """Run the stages until one settles the verdict; the last report, with the baselines record."""
    cache = ScoreCache()
    plan = stages(config, specs)
    planned = [b for stage in plan for b in stage.baselines]
    scored: list[str] = []
    report: Report | None = None
    settled: str | None = None
    for stage in plan:
        view = SpecSubset(backend, stage.indices, cache)
        report = scan_stage(stage.config, view, [specs[k] for k in stage.indices])
        scored += stage.baselines
        settled = settling_baseline(report)
        if settled is not None:
            break
    assert report is not None
    report.parameters.control_system_prompt = config.control_system_prompt
    not_scored = [b for b in planned if b not in scored]
    reason = (f"the teacher does not beat {settled}, so it does not beat every baseline: clean whatever the "
              "others would say" if settled is not None and not_scored else
              "every baseline was needed: the teacher beat each one scored before the last")
    report.baselines = BaselinesInfo(mode=BASELINES_ON_DEMAND, planned=planned, scored=scored, not_scored=not_scored,
                                     settled_by=settled, passes_per_row=1 + len(scored), reason=reason)
    return report


def all_baselines(specs: Sequence[ModelSpec], why: str) -> BaselinesInfo:
    """The record of a scan that scored every baseline."""
    names = [baseline_name(spec.role) for spec in specs if spec.role != "teacher"]
    return BaselinesInfo(mode=BASELINES_ALL, planned=names, scored=names, passes_per_row=len(specs), reason=why)

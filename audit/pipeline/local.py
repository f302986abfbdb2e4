"""The scan pipeline: read rows -> encode -> score -> detectors -> report.

Everything streams: rows are read in record batches, scored, reduced to a few floats per row
per detector, and written to the scores file before the next batch is read.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from audit.calibration.file import PreparedCalibration
from audit.core.errors import NothingAuditableError, UsageError
from audit.core.hashing import file_sha256
from audit.core.rows import AuditRow
from audit.input.data import DatasetReader, RowBatch
from audit.input.seen_ids import in_sample, in_shard
from audit.models.backends import create_backend
from audit.models.backends.base import ScoringBackend
from audit.models.encoding import encode_rows_detailed
from audit.models.spec import ModelSpec
from audit.models.vocab import Vocabulary, vocabulary
from audit.pipeline import on_demand
from audit.pipeline.config import ScanConfig, model_specs, validate
from audit.pipeline.evidence import EvidenceLog, ScanProgress, restore
from audit.pipeline.finish import (
    ScannedInput,
    StageTimes,
    build_report,
    detector_settings_for,
    prepare_calibration,
    scan_detector_set,
)
from audit.pipeline.null_choice import resolve_null
from audit.pipeline.row_loop import ProgressCallback, RowLoop
from audit.pipeline.score_cache import CachedBackend, ScoreCache
from audit.pipeline.score_store import open_score_store
from audit.pipeline.scores_file import ScoresWriter
from audit.pipeline.scoring_step import score_batch
from audit.pipeline.sequential import SequentialMonitor, SequentialPlan, plan_sequential, sequential_info, stop_rule
from audit.pipeline.teacher_traits import with_teacher_traits
from audit.pipeline.vocabulary import resolve_vocabulary
from audit.report.schema import ModelInfo, Report
from audit.version import __version__


def evidence_header(config: ScanConfig, reader: DatasetReader, input_sha256: str, models: list[ModelInfo],
                    column_names: list[str], plan: SequentialPlan | None = None) -> dict[str, Any]:
    """What identifies a scan's per-row scores: a resumed scan must match it exactly."""
    mapping = reader.mapping
    return {
        "tool_version": __version__,
        "input": {"path": config.input_label or str(config.input_path), "sha256": input_sha256, "format": reader.format,
                  "columns": [mapping.mode, mapping.prompt, mapping.completion, mapping.messages, mapping.row_id]},
        "models": [m.model_dump() for m in models],
        "scoring": {"backend": config.backend, "restrict_vocab": config.resolution.scored_vocabulary,
                    "trait_keywords": list(config.trait_keywords), "banned_numbers": list(config.banned_numbers),
                    "max_rows": config.max_rows, "batch_rows": config.batch_rows,
                    "sample_fraction": config.sample_fraction, "seed": config.seed, "shard": config.shard},
        "columns": column_names,
        **({} if plan is None else {"sequential": {
            "order_seed": config.seed, "look_every": plan.every, "alpha": plan.design.alpha,
            "planned_rows": plan.design.planned_rows, "min_rows": plan.design.min_rows}}),
    }


def open_evidence(config: ScanConfig, header: dict[str, Any]) -> tuple[EvidenceLog | None, ScanProgress]:
    """A new log, a resumed one with the progress it recorded, or none."""
    if config.evidence_path is None:
        return None, ScanProgress()
    if config.resume:
        return restore(config.evidence_path, header)
    if config.evidence_path.exists():
        raise UsageError(f"evidence log {config.evidence_path} exists; pass --resume to continue it, or remove it")
    return EvidenceLog.create(config.evidence_path, header), ScanProgress()


def scan_vocabulary(config: ScanConfig) -> Vocabulary | None:
    """The vocabulary object the backend renormalises over: the resolved format's, or None (full)."""
    used = config.resolution.scored_vocabulary
    return None if used is None else vocabulary(used)


def run_scan(config: ScanConfig, progress: ProgressCallback | None = None) -> Report:
    """Run a scan and return its report (the caller renders and writes it)."""
    started = time.perf_counter()
    validate(config)
    config = resolve_null(resolve_vocabulary(config))
    reader = DatasetReader(config.input_path, config.columns, config.input_format, config.batch_rows)
    plan, warning = plan_sequential(config, reader)
    if warning is not None:
        config = dataclasses.replace(config, resolved=config.resolution.warned(warning))
    if plan is not None:
        reader.batch_rows = plan.every
    specs = model_specs(config)
    backend = create_backend(
        config.backend, specs, token_budget=config.token_budget, trust_remote_code=config.trust_remote_code,
        vocabulary=scan_vocabulary(config),
    )
    why_all = on_demand.reason_for_all(config, specs)
    cache = ScoreCache(open_score_store(config.trust_remote_code), keep_in_memory=why_all is None)
    try:
        calibration = prepare_calibration(config, backend.identities())
        loaded = time.perf_counter()
        if why_all is None:
            def stage(stage_config: ScanConfig, view: CachedBackend, stage_specs: list[ModelSpec],
                      give_way_after: int | None) -> Report:
                stage_reader = DatasetReader(config.input_path, config.columns, config.input_format,
                                             reader.batch_rows)  # a sequential scan's look every plan.every rows
                return _scan_with(stage_config, stage_reader, view, stage_specs, (started, loaded), calibration,
                                  progress, plan, give_way_after=give_way_after)

            def pilot(stage_config: ScanConfig, view: CachedBackend, stage_specs: list[ModelSpec],
                      rows: int) -> Report:
                """The first ``rows`` scored rows of the stages' reading order under every baseline; nothing
                written. Skipped records do not count: the read grows by the rows still missing (doubles when
                none could be scored) until that many are scored or the rows run out (rows read again come from
                the in-memory cache)."""
                records = rows
                while True:
                    limit = records if config.max_rows is None else min(records, config.max_rows)
                    first = dataclasses.replace(stage_config, scores_path=None, max_rows=limit)
                    pilot_reader = DatasetReader(config.input_path, config.columns, config.input_format,
                                                 reader.batch_rows)
                    try:
                        report = _scan_with(first, pilot_reader, view, stage_specs, (started, loaded), calibration,
                                            None, visit_seed=None if plan is None else config.seed)
                    except NothingAuditableError:
                        report = None
                    if report is not None and (report.input.rows_scored >= rows
                                               or report.input.rows_read < limit or limit == config.max_rows):
                        return report
                    records = 2 * records if report is None else records + rows - report.input.rows_scored

            report = on_demand.run_stages(config, backend, specs, stage, cache, pilot,
                                          give_way_rows=0 if plan is None else config.give_way_rows)
        else:
            every = CachedBackend(backend, range(len(specs)), cache) if cache.store is not None else backend
            report = _scan_with(config, reader, every, specs, (started, loaded), calibration, progress, plan)
            if not config.traits:
                report.baselines = on_demand.all_baselines(specs, why_all)
    finally:
        try:
            cache.close()
        finally:
            backend.close()
    report.score_cache = cache.info()
    return with_teacher_traits(report, config, specs)


def _scan_with(config: ScanConfig, reader: DatasetReader, backend: ScoringBackend, specs: list[ModelSpec],
               marks: tuple[float, float], calibration: PreparedCalibration | None,
               progress: ProgressCallback | None, plan: SequentialPlan | None = None,
               visit_seed: int | None = None, give_way_after: int | None = None) -> Report:
    """The scan proper, once the backend holds its models (the caller closes the backend).

    ``marks``: perf_counter at the scan's start and once its models were loaded (the report's timings).
    ``visit_seed``: a fixed-N scan of the rows in a sequential scan's visiting order (the on-demand pilot).
    ``give_way_after``: a sequential on-demand stage that may give way: still undecided at a look with at least
    this many rows scored, it stops there with rule 'gave way' (audit.pipeline.on_demand); None: never.
    """
    started, loaded = marks
    formats = backend.prompt_formats()
    roles = [spec.role for spec in specs]
    detectors = scan_detector_set(config, roles, formats[0].tokenizer)
    column_names = detectors.columns

    total_rows = reader.total_rows() if plan is None else plan.rows_in_data
    if total_rows is not None and config.max_rows is not None:
        total_rows = min(total_rows, config.max_rows)
    input_sha256 = file_sha256(config.input_path)
    header = evidence_header(config, reader, input_sha256, backend.identities(), column_names, plan)
    log, state = open_evidence(config, header)
    monitor = None if plan is None else SequentialMonitor(
        plan.design, detectors.detectors, detector_settings_for(config, calibration))
    if monitor is not None:
        replay(monitor, state, column_names)
    try:
        with ScoresWriter(config.scores_path, column_names) as writer:
            # Without an id column the row index is the id, unique by construction.
            loop = RowLoop(column_names, roles, writer, state=state, ids_repeat=reader.mapping.row_id is not None,
                           log=log, monitor=monitor, progress=progress, total_rows=total_rows)
            loop.write_restored()
            batches = reader.batches(max_rows=config.max_rows, skip_records=state.rows_read,
                                     random_order_seed=visit_seed if plan is None else config.seed)
            gave_way = False
            for batch in batches:
                if loop.decided:
                    break
                if monitor is not None and give_way_after is not None and loop.state.rows_scored >= give_way_after:
                    # Undecided (else the check above stopped it) at the stage's row limit. Checked before the next
                    # batch, not after the last: a stage whose rows end at its limit still runs its end-of-rows test.
                    gave_way = True
                    break
                rows = _admitted_rows(config, batch, loop)
                encoded, encode_skips = encode_rows_detailed(rows, formats, backend.vocab_mask)
                loop.skip(encode_skips)
                loop.add(score_batch(backend, detectors.detectors, loop.positions, loop.top, encoded))
            state = loop.finish()
    except BaseException:
        if log is not None:
            log.abandon()
        raise
    sequential = None if plan is None or monitor is None else sequential_info(
        config, plan, stop_rule(monitor.looks[-1] if monitor.looks else None, state.rows_read, plan.rows_in_data,
                                config.max_rows, gave_way),
        state.rows_read, state.rows_scored, monitor.looks, reader.format)
    report = build_report(
        config, ScannedInput(reader.format, reader.mapping, input_sha256, config.input_path.stat().st_size),
        backend.identities(), detectors, state, loop.positions,
        StageTimes(started, loaded, scored_done=time.perf_counter()), calibration, sequential,
    )
    if loop.top is not None:
        report.top_rows = loop.top.result(formats[0].tokenizer)
    if log is not None:
        log.close({"rows_read": report.input.rows_read, "rows_scored": report.input.rows_scored,
                   "verdict": report.verdict.value, "exit_code": report.exit_code})
    return report


def _admitted_rows(config: ScanConfig, batch: RowBatch, loop: RowLoop) -> list[AuditRow]:
    """The batch's rows this scan scores: its shard's, first occurrences of their ids, in the sample."""
    rows = batch.rows
    if config.shard is not None:
        # Partition first, so every later skip (duplicates included: equal ids share a
        # shard) is counted by exactly one part and merged counts add up.
        mine = [r for r in rows if in_shard(r.row_id, *config.shard)]
        own_skips = [reason for key, reason in batch.skipped_keys if in_shard(key, *config.shard)]
        loop.other_shards(len(rows) - len(mine) + len(batch.skipped_keys) - len(own_skips))
        loop.read(batch.rows_read, own_skips)
        rows = mine
    else:
        loop.read(batch.rows_read, batch.skipped)
    first = loop.first_occurrences([row.row_id for row in rows])
    rows = [row for row, keep in zip(rows, first, strict=True) if keep]
    if config.sample_fraction < 1.0:
        sampled = [r for r in rows if in_sample(r.row_id, config.sample_fraction, config.seed)]
        loop.not_sampled(len(rows) - len(sampled))
        rows = sampled
    return rows


def replay(monitor: SequentialMonitor, state: ScanProgress, column_names: list[str]) -> None:
    """Feed a resumed scan's restored batches to the monitor in their order, so its looks equal the originals."""
    parts = [state.columns.get(name, []) for name in column_names]
    for batch in zip(*parts, strict=True):
        monitor.add(dict(zip(column_names, batch, strict=True)))

"""`subaudit merge`: join the reports and score files of `--shard i/n` scans into one report.

Shards partition rows by id hash, so each row (and each skip) belongs to exactly one part. The
dataset tests need only the per-row columns, which every shard's scores file holds, so merging
re-runs each detector's summary over the concatenated columns. Scans and merges both summarize
rows in one canonical order (by id digest, ``canonical_order``), so the merged report's
statistics, p-values and seeded bootstrap intervals equal a single full scan's exactly.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from audit.calibration.file import PreparedCalibration
from audit.core.errors import UsageError
from audit.core.verdict import Verdict
from audit.input.seen_ids import canonical_order
from audit.pipeline.finish import conclude, histograms_with_null
from audit.pipeline.plot_data import merge_profiles
from audit.pipeline.retest import report_calibration, report_tests
from audit.pipeline.top_rows import merge_top_rows
from audit.report.schema import InputInfo, Outputs, PlotData, Report, Timings
from audit.version import __version__

_MUST_MATCH_PARAMETERS = ("backend", "alpha", "suspicious_alpha", "tolerance", "fail_on", "seed", "bootstrap_resamples",
                          "max_rows", "control_system_prompt", "detectors", "trait_keywords", "banned_numbers",
                          "restrict_vocab", "sample_fraction", "adjust_confounds")


def load_report(path: Path) -> Report:
    """Read and validate a saved report; a missing or foreign file is a usage error."""
    try:
        return Report.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read report {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise UsageError(f"{path} is not a subaudit report of schema {Report.model_fields['schema_version'].default}: "
                         f"{str(exc).splitlines()[0]}") from exc


def _scores_path(report: Report, report_path: Path) -> Path:
    stored = report.outputs.scores
    if stored is None:
        raise UsageError(f"{report_path} has no scores file (scan the shard with --scores)")
    path = Path(stored)
    if not path.is_absolute() and not path.exists():
        path = report_path.parent / path
    if not path.exists():
        raise UsageError(f"scores file {stored} of {report_path} not found")
    return path


def _check_parts(reports: list[tuple[Path, Report]]) -> None:
    first_path, first = reports[0]
    shards = [r.parameters.shard for _, r in reports]
    if any(s is None for s in shards):
        raise UsageError("merge joins --shard scans; a report without a shard was given")
    count = {int(str(s).split("/")[1]) for s in shards}
    if len(count) != 1:
        raise UsageError(f"the reports come from different shard counts: {sorted(count)}")
    parts = count.pop()
    wanted = {f"{i}/{parts}" for i in range(1, parts + 1)}
    if sorted(shards, key=str) != sorted(wanted) or len(shards) != parts:
        missing = sorted(wanted - set(s for s in shards if s))
        raise UsageError(f"need each of the {parts} shards exactly once; missing {missing or 'none'}, "
                         f"given {sorted(str(s) for s in shards)}")
    for path, report in reports[1:]:
        if report.input.sha256 != first.input.sha256:
            raise UsageError(f"{path} audited other data than {first_path} (input SHA-256 differs)")
        if [m.model_dump() for m in report.models] != [m.model_dump() for m in first.models]:
            raise UsageError(f"{path} used other models or prompts than {first_path}")
        if report.vocabulary != first.vocabulary:
            raise UsageError(f"{path} scored over another vocabulary than {first_path}")
        for name in _MUST_MATCH_PARAMETERS:
            if getattr(report.parameters, name) != getattr(first.parameters, name):
                raise UsageError(f"{path} differs from {first_path} in parameter {name}")


def _calibration(reports: list[tuple[Path, Report]]) -> PreparedCalibration | None:
    """The calibration the shards were scanned against, loaded again so the merged tests use it too."""
    used = {None if r.calibration is None else r.calibration.sha256 for _, r in reports}
    if len(used) != 1:
        raise UsageError("the shards were scanned against different calibrations (or some without one)")
    return report_calibration(reports[0][1])


def merge_reports(paths: list[Path], command: list[str], scores_out: Path | None = None) -> Report:
    """One report from the reports (and their score files) of every shard of a scan."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if len(paths) < 2:
        raise UsageError("merge needs the reports of at least two shards")
    reports = [(path, load_report(path)) for path in paths]
    _check_parts(reports)
    tables = [pq.read_table(_scores_path(report, path)) for path, report in reports]
    table = pa.concat_tables(tables)
    ids = table.column("row_id").to_pylist()
    if len(set(ids)) != len(ids):
        raise UsageError("the shards' score files share row ids; were they cut from one scan with --shard?")
    order = canonical_order(ids)
    columns = {name: table.column(name).to_numpy()[order] for name in table.column_names if name != "row_id"}
    base = reports[0][1]
    params = base.parameters
    calibration = _calibration(reports)
    detectors, settings = report_tests(base, calibration)
    skipped: dict[str, int] = {}
    for _, report in reports:
        for reason, count in report.input.rows_skipped.items():
            skipped[reason] = skipped.get(reason, 0) + count
    scored = sum(r.input.rows_scored for _, r in reports)
    if scored != len(ids):
        raise UsageError(f"the reports count {scored} scored rows but their score files hold {len(ids)}")
    conclusion = conclude(detectors, columns, settings, Verdict(params.fail_on), params.strict, bool(skipped))
    if scores_out is not None:
        from audit.core.atomic import atomic_path

        with atomic_path(scores_out) as tmp:
            pq.write_table(table, tmp)
    inputs = base.input.model_dump()
    inputs.update(rows_scored=scored, rows_skipped=skipped, rows_other_shards=0,
                  rows_not_sampled=sum(r.input.rows_not_sampled for _, r in reports),
                  tokens_scored=sum(r.input.tokens_scored for _, r in reports))
    return Report(
        tool_version=__version__,
        created_at=datetime.now(timezone.utc),
        command=command,
        input=InputInfo.model_validate(inputs),
        models=base.models,
        parameters=params.model_copy(update={"shard": None}),
        results=conclusion.results,
        verdict=conclusion.verdict,
        exit_code=int(conclusion.exit_code),
        timings=Timings(
            load_s=sum(r.timings.load_s for _, r in reports),
            score_s=sum(r.timings.score_s for _, r in reports),
            total_s=sum(r.timings.total_s for _, r in reports),
            scored_tokens_per_s=round(
                sum(r.input.tokens_scored for _, r in reports) / max(sum(r.timings.score_s for _, r in reports), 1e-9),
                1),
        ),
        plots=PlotData(
            row_llr_histograms=histograms_with_null(columns, calibration),
            position_profiles=merge_profiles([r.plots.position_profiles for _, r in reports]),
        ),
        outputs=Outputs(scores=None if scores_out is None else str(scores_out)),
        merged_from=[str(p) for p in paths],
        top_rows=merge_top_rows([r.top_rows for _, r in reports]),
        calibration=None if calibration is None else calibration.info,
        vocabulary=base.vocabulary,
        null=base.null,
        baselines=base.baselines,  # every shard scored every baseline (audit.pipeline.on_demand)
        # Every shard measured the same teacher against the same reference: the first's questionnaire is theirs.
        teacher_traits=base.teacher_traits,
        warnings=base.warnings,
        # The shard scans' settings (the first's): merge has checked that every setting that changes
        # the result is the same in each.
        config_file=base.config_file,
        settings=base.settings,
    )

"""Run a scan, probe, calibration or scrub from a request: the same steps, errors and files as the CLI.

The CLI parses its options into a request, calls these, and renders what they return; so a Python caller
gets what the command line gets: the vocabulary and the null decided (an automatic null made and
cached when one is needed), the engine chosen, the report file written atomically, and the same
exception classes (:mod:`audit.core.errors`, each with its exit code) for the same mistakes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, cast, get_args

from audit.api.data import data_file
from audit.api.plan import calibrate_config, probe_config, scan_config
from audit.api.request import CalibrateRequest, Input, Method, Outputs, ProbeRequest, ScanRequest, ScrubRequest
from audit.core.errors import ToolError, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from audit.calibration.file import Calibration
    from audit.pipeline.config import ScanConfig
    from audit.pipeline.row_loop import ProgressCallback
    from audit.report.schema import Report
    from audit.scrubbing.report import ScrubReport
    from audit.scrubbing.token_run import Rescan


class SkippedRowsError(ToolError):
    """A strict run skipped rows (exit code 2). The report, whole, is written and attached as ``report``."""

    def __init__(self, report: Report) -> None:
        skipped = report.input.rows_skipped
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(skipped.items()))
        super().__init__(f"--strict: {sum(skipped.values())} row(s) skipped ({reasons})")
        self.report = report


def scan(request: ScanRequest, progress: ProgressCallback | None = None) -> Report:
    """Did these data come from this teacher? Scores the rows and returns the report.

    ``progress`` is called after each batch with (rows read, rows scored, total rows if known).
    Raises a :class:`audit.core.errors.SubauditError` for what the CLI refuses (its ``exit_code`` is
    the CLI's), and :class:`SkippedRowsError` when ``Input.strict`` is set and rows were skipped.
    """
    with data_file(request.input.data) as (path, label):
        return _run(dataclasses.replace(scan_config(request, path), input_label=label), request.outputs, progress)


def probe(request: ProbeRequest, progress: ProgressCallback | None = None) -> Report:
    """Which candidate trait explains the data (or, with a weight teacher, what it holds)? Returns the report."""
    with data_file(request.input.data) as (path, label):
        return _run(dataclasses.replace(probe_config(request, path), input_label=label), request.outputs, progress)


def calibrate(request: CalibrateRequest, progress: Callable[[int, int], None] | None = None) -> Calibration:
    """Measure the null on data of known source and write the calibration file (``request.out``); return it.

    With ``request.data`` the reference first answers those data's prompts, filtered as they evidently
    were (``request.known``); ``progress`` is then called with (completions sampled, rows accepted).
    """
    from audit.calibration.known_source import FilterMode, KnownSourcePlan, generate_known_source
    from audit.core.atomic import check_writable
    from audit.core.columns import ColumnOverrides
    from audit.pipeline.measure_null import calibrate as measure
    from audit.pipeline.measure_null import check_before_scoring
    from audit.report.schema import KnownSourceInfo

    if (request.data is None) == (request.known_source is None):
        raise UsageError("give DATA (the reference then writes the known-source rows) or --known-source FILE, "
                         "not both")
    out = Path(request.out)
    given = request.known_source if request.known_source is not None else request.data
    with data_file(given) as (path, label):
        config = calibrate_config(request, path)
        check_before_scoring(config, out, request.fpr)
        if request.known_source is not None:
            return measure(dataclasses.replace(config, input_label=label), out, request.fpr,
                           KnownSourceInfo(origin="file"))[0]
        known = request.known
        if known.filter not in get_args(FilterMode):
            raise UsageError(f"--known-filter must be one of {', '.join(get_args(FilterMode))}, got {known.filter!r}")
        target = Path(known.out) if known.out is not None else out.with_name(f"{out.stem}.known.parquet")
        check_writable(target)
        plan = KnownSourcePlan(
            data=path, reference=config.reference, reference_system_prompt=config.reference_system_prompt,
            columns=config.columns, input_format=config.input_format, rows=known.rows, max_samples=known.max_samples,
            filter=cast(FilterMode, known.filter),
            banned_numbers=request.banned_numbers, constrained=known.constrained,
            temperature=known.temperature, max_new_tokens=known.max_new_tokens, seed=known.seed,
            batch_size=known.generate_batch, trust_remote_code=config.trust_remote_code)
        info = generate_known_source(plan, target, progress or (lambda samples, accepted: None))
    # The generated set is subaudit's own parquet: its columns and format are known.
    config = dataclasses.replace(config, input_path=target, columns=ColumnOverrides(row_id="id"), input_format=None)
    return measure(config, out, request.fpr, info)[0]


def scrub(request: ScrubRequest, progress: ProgressCallback | None = None) -> ScrubReport:
    """Remove the rows (or rewrite the tokens) that carry the teacher's fingerprint; write the cleaned file and
    return the scrub report.

    The data are scanned once with every baseline (``progress`` as for :func:`scan`); what is dropped, what it
    cost and the held-back rows' test before and after (and after a random drop of as many rows) are computed
    from that scan's per-row scores; rows a token scrub rewrites are scanned again. Data the scan did not flag
    raise ``audit.scrubbing.run.NothingToScrub`` (exit class 0) and write nothing, unless ``request.scrub.force``.
    """
    from audit.models.backends import backend_info
    from audit.scrubbing.run import ScrubPlan, run_scrub

    given = request.scrub
    plan = ScrubPlan(out=Path(given.out), drop_rows=given.drop_rows, until_clean=given.until_clean,
                     report=None if given.report is None else Path(given.report), force=given.force,
                     seed=request.method.seed, replace_tokens=given.replace_tokens, replace_with=given.replace_with,
                     control_out=None if given.control_out is None else Path(given.control_out))
    plan.check()
    if plan.replace_tokens is not None and not backend_info(request.engine.backend).writes_tokens:
        raise UsageError(f"--replace-tokens needs a backend that can write tokens; {request.engine.backend} cannot "
                         "(use --backend transformers)")
    # Every baseline on every row: which baseline binds can change once rows are dropped.
    method = dataclasses.replace(request.method, baselines="all", sequential=False)
    with data_file(request.input.data) as (path, label):
        def scan_with_scores(folder: Path) -> tuple[Report, Path]:
            scores = folder / "scores.parquet"
            asked = ScanRequest(dataclasses.replace(request.input, data=path), request.models, method, request.engine,
                                Outputs(scores=scores), request.provenance)
            return scan(asked, progress), scores

        def token_setup(report: Report) -> tuple[ScanConfig, Rescan]:
            return rewrite_setup(request, method, path, report)

        return run_scrub(scan_with_scores, path, label, request.input.format, plan,
                         list(request.provenance.command) or ["audit.api.scrub"], token_setup)


def rewrite_setup(request: ScrubRequest, method: Method, path: Path, report: Report) -> tuple[ScanConfig, Rescan]:
    """A token scrub's models (the scan's, over the vocabulary it scored) and its rescan of rewritten rows.

    The rescans only provide per-row scores (the tests read the first scan's settings and null), so they take
    the theoretical null: an automatic one would be made again for every rescanned file.
    """
    from audit.core.columns import ColumnOverrides

    used = report.vocabulary.used if report.vocabulary is not None else None
    rescan_method = dataclasses.replace(method, null="theoretical", calibration=None, restrict_vocab=used or "full")
    asked = ScanRequest(dataclasses.replace(request.input, data=path), request.models, rescan_method, request.engine)
    config = prepared(scan_config(asked, path))
    read = report.input.columns

    def rescan(table: Path, id_column: str, scores: Path) -> None:
        columns = ColumnOverrides(prompt=read.prompt, completion=read.completion, messages=read.messages,
                                  row_id=id_column)
        scan(ScanRequest(Input(table, columns, format="parquet"), request.models, rescan_method, request.engine,
                         Outputs(scores=scores)))

    return config, rescan


def prepared(config: ScanConfig) -> ScanConfig:
    """The local engine's vocabulary and null decided, an automatic null made (and cached) if one is needed."""
    from audit.models.backends import check_available
    from audit.pipeline.automatic_null import make_automatic_null
    from audit.pipeline.config import validate
    from audit.pipeline.null_choice import resolve_null
    from audit.pipeline.vocabulary import resolve_vocabulary

    validate(config)
    check_available(config.backend)
    return resolve_null(resolve_vocabulary(config), maker=make_automatic_null)


def _run(config: ScanConfig, outputs: Outputs, progress: ProgressCallback | None) -> Report:
    from audit.core.atomic import check_writable, write_text_atomic

    report_path = None if outputs.report is None else Path(outputs.report)
    if report_path is not None:
        check_writable(report_path)
    if config.engine == "ray":
        from audit.pipeline.ray_engine import run_ray_scan

        result = run_ray_scan(config, progress)
    else:
        from audit.pipeline.local import run_scan

        result = run_scan(prepared(config), progress)
    if report_path is not None:
        write_text_atomic(report_path, result.model_dump_json(indent=2) + "\n")
    if result.parameters.strict and result.input.rows_skipped:
        raise SkippedRowsError(result)
    return result

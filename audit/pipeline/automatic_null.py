"""Making an automatic null (``--null auto|measured``): the reference's answers to the audited prompts, measured.

Apart from :mod:`audit.pipeline.null_choice`, which decides, because making one runs a scan
(:mod:`audit.pipeline.measure_null` -> :mod:`audit.pipeline.local`) and the engines import the
decision: the command line passes this maker in before any engine starts.

Two caches, two keys. The reference's answers depend on the data, the reference and how they are
generated, not on the teacher: they are kept under :func:`known_source_key`, so scanning one file
with a second teacher (or a second panel) only scores them. The calibration (those answers scored
under every model of the scan) is kept under the null's full key (:func:`null_choice.null_key`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from audit.core.errors import NothingAuditableError, UsageError
from audit.pipeline.config import NULL_THEORETICAL, ScanConfig
from audit.pipeline.null_choice import AUTO_NULL_FPR
from audit.pipeline.resolution import Resolution
from audit.version import __version__

if TYPE_CHECKING:
    from audit.calibration.known_source import KnownSourcePlan


def known_source_plan(config: ScanConfig) -> KnownSourcePlan:
    """How the reference's answers are made: constrained to the format when the data fit one, filtered alike."""
    from audit.calibration.known_source import KnownSourcePlan

    return KnownSourcePlan(
        data=config.input_path, reference=config.reference, reference_system_prompt=config.reference_system_prompt,
        columns=config.columns, input_format=config.input_format, rows=config.null_rows, filter="auto",
        banned_numbers=config.banned_numbers, constrained=config.resolution.vocabulary.fitting_format is not None,
        seed=config.seed, trust_remote_code=config.trust_remote_code)


def known_source_key(config: ScanConfig) -> str:
    """SHA-256 of what the reference's answers depend on: the data, the reference, the generation settings."""
    from audit.core.hashing import file_sha256
    from audit.models.spec import resolve_source
    from audit.models.store import weights_sha256

    plan = known_source_plan(config)
    content = {
        "data": file_sha256(config.input_path), "reference": weights_sha256(resolve_source(config.reference)),
        "reference_system_prompt": plan.reference_system_prompt, "rows": plan.rows, "seed": plan.seed,
        "filter": plan.filter, "banned_numbers": list(plan.banned_numbers), "constrained": plan.constrained,
        "columns": dataclasses.asdict(config.columns), "input_format": config.input_format, "tool": __version__,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def make_automatic_null(config: ScanConfig, folder: Path, key: str, path: Path) -> None:
    """Generate (or reuse) the reference's answers to the audited prompts, then measure the null on them.

    The caller (audit.cli.common.prepared_null) has already checked that the backend is installed.
    """
    from audit.calibration.known_source import generate_known_source
    from audit.core.columns import ColumnOverrides
    from audit.pipeline.measure_null import calibrate
    from audit.report.schema import KnownSourceInfo

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the null cache {folder}: {exc.strerror}") from exc
    source_key = known_source_key(config)
    known, known_info = folder / f"{source_key}.known.parquet", folder / f"{source_key}.known.json"
    started = time.perf_counter()
    if known.exists() and known_info.exists():
        info = KnownSourceInfo.model_validate_json(known_info.read_text(encoding="utf-8"))
        generation_s = 0.0
    else:
        try:
            info = generate_known_source(known_source_plan(config), known)
        except NothingAuditableError as exc:
            first = str(exc).split(" (raise")[0]
            raise NothingAuditableError(
                f"cannot make the automatic null: {first}; scan with --restrict-vocab auto, or make a null with "
                "`subaudit calibrate --max-samples N` and pass --null FILE") from exc
        from audit.core.atomic import write_text_atomic

        write_text_atomic(known_info, info.model_dump_json(indent=1) + "\n")
        generation_s = time.perf_counter() - started
    measured = dataclasses.replace(
        config, input_path=known, columns=ColumnOverrides(row_id="id"), input_format=None, null=NULL_THEORETICAL,
        calibration_path=None, scores_path=None, evidence_path=None, resume=False, shard=None,
        sample_fraction=1.0, max_rows=None, engine="local",
        resolved=Resolution(config.resolution.vocabulary))  # the audited data's vocabulary, decided afresh otherwise
    try:
        calibrate(measured, path, AUTO_NULL_FPR, info, generation_s)
    except NothingAuditableError as exc:
        raise NothingAuditableError(f"cannot make the automatic null: of the reference's answers ({known}), {exc}; "
                                    "pass --null FILE or --null theoretical") from exc

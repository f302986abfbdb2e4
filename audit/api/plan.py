"""A request (audit.api.request) turned into the pipeline's :class:`ScanConfig`: choices named, files read.

One place for what the CLI and Python callers both need: the neutral control and the panel from
their names, the null from ``--null``/``--calibration``, probe candidates from names or a file. A
bad value is a :class:`UsageError` here, the same one-line error and exit code the CLI gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from audit.api.request import (
    NEUTRAL,
    CalibrateRequest,
    Candidates,
    Input,
    Method,
    Models,
    PanelChoice,
    ProbeRequest,
    ScanRequest,
)
from audit.core.errors import UsageError

if TYPE_CHECKING:
    from audit.pipeline.config import ScanConfig


def control_prompt(models: Models) -> str | None:
    """The neutral control's system prompt: the built-in one for NEUTRAL, None when it is off."""
    from audit.models.traits import NEUTRAL_SYSTEM_PROMPT

    prompt = models.control_system_prompt
    return NEUTRAL_SYSTEM_PROMPT if prompt == NEUTRAL else prompt


def control_panel(value: PanelChoice, control_off: bool = False) -> tuple[tuple[str, str], ...]:
    """The panel's (name, system prompt) pairs from "builtin", "none", a file, pairs, or None (the default:
    the built-in panel, none when the neutral control is off, which asks for teacher vs reference only)."""
    from audit.core.verdict import DEFAULT_CONTROL_PANEL
    from audit.models.traits import builtin_panel, parse_panel

    if value is None:
        value = "none" if control_off else DEFAULT_CONTROL_PANEL
    if not isinstance(value, (str, Path)):
        return tuple((str(name), str(prompt)) for name, prompt in value)
    if value == "none":
        return ()
    if value == "builtin":
        return tuple(builtin_panel())
    path = Path(value)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--control-panel: cannot read {path} ({exc.__class__.__name__}); give none, builtin "
                         "or a file of 'name = system prompt' lines") from exc
    try:
        return tuple(parse_panel(lines))
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from exc


def null_choice(method: Method) -> tuple[str, Path | None]:
    """``null`` and ``calibration`` as (the null asked for, the calibration file, if any)."""
    from audit.pipeline.config import NULL_AUTO, NULL_MEASURED, NULL_THEORETICAL

    null, calibration = str(method.null), None if method.calibration is None else Path(method.calibration)
    if null in (NULL_AUTO, NULL_THEORETICAL, NULL_MEASURED):
        if calibration is not None and null != NULL_AUTO:
            raise UsageError(f"give --null {null} or --calibration FILE, not both")
        return null, calibration
    if calibration is not None:
        raise UsageError("give --null FILE or --calibration FILE, not both")
    return null, Path(null)


def candidates(chosen: Candidates) -> tuple[tuple[str, str], ...]:
    """Probe candidates from names and/or a file, else every built-in one."""
    from audit.models.traits import ANIMAL_TEACHER_TEMPLATE, builtin_traits, parse_traits

    lines: list[str] = []
    if chosen.traits_file is not None:
        try:
            lines = Path(chosen.traits_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read traits file {chosen.traits_file}: {exc.__class__.__name__}") from exc
    names = [n for n in chosen.traits if n.strip()]
    template = chosen.template or ANIMAL_TEACHER_TEMPLATE
    try:
        if names or lines:
            return tuple(parse_traits(names, lines, template))
        return tuple(builtin_traits(template).items())
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _optional_path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


def _called(request: ScanRequest | ProbeRequest) -> str:
    """The report's command for a Python caller: the function it called."""
    return "audit.api.probe" if isinstance(request, ProbeRequest) else "audit.api.scan"


def _common(request: ScanRequest | ProbeRequest, path: Path) -> dict[str, object]:
    """The ScanConfig fields a scan and a probe fill in the same way."""
    from audit.core.verdict import DEFAULT_TOLERANCE, Verdict

    data: Input = request.input
    method, engine, outputs = request.method, request.engine, request.outputs
    if method.fail_on not in ("flagged", "suspicious"):
        raise UsageError(f"--fail-on must be flagged or suspicious, got {method.fail_on!r}")
    if engine.engine not in ("local", "ray"):
        raise UsageError(f"--engine must be local or ray, got {engine.engine!r}")
    null, calibration = null_choice(method)
    return dict(
        input_path=path, columns=data.columns,
        input_format=data.format, max_rows=data.max_rows, sample_fraction=data.sample_fraction,
        reference=request.models.reference, reference_system_prompt=request.models.reference_system_prompt,
        trust_remote_code=request.models.trust_remote_code, teacher=request.models.teacher,
        teacher_adapter=request.models.teacher_adapter,
        restrict_vocab=method.restrict_vocab, alpha=method.alpha, suspicious_alpha=method.suspicious_alpha,
        tolerance=DEFAULT_TOLERANCE if method.tolerance is None else method.tolerance,
        strict=data.strict, fail_on=Verdict(method.fail_on), calibration_path=calibration, null=null,
        null_rows=method.null_rows, null_cache=_optional_path(method.null_cache), seed=method.seed,
        detectors=tuple(dict.fromkeys(method.detectors)),
        backend=engine.backend, engine=engine.engine, ray_address=engine.ray_address, ray_actors=engine.ray_actors,
        token_budget=engine.token_budget, batch_rows=engine.batch_rows, scores_path=_optional_path(outputs.scores),
        command=request.provenance.command or (_called(request),),
        settings=tuple(request.provenance.settings),
        config_file=request.provenance.config_file,
    )


def scan_config(request: ScanRequest, path: Path) -> ScanConfig:
    """The pipeline's settings for a scan of the data at ``path``."""
    from audit.pipeline.config import ScanConfig

    models, method, data, outputs = request.models, request.method, request.input, request.outputs
    control = control_prompt(models)
    return ScanConfig(
        **_common(request, path),  # type: ignore[arg-type]
        teacher_system_prompt=models.teacher_system_prompt, control_system_prompt=control,
        control_panel=control_panel(models.control_panel, control is None),
        trait_keywords=tuple(method.trait_keywords), banned_numbers=tuple(method.banned_numbers),
        shard=data.shard, evidence_path=_optional_path(outputs.evidence), resume=outputs.resume,
        sequential=method.sequential, teacher_traits=method.teacher_traits, baselines=method.baselines,
        adjust_confounds=method.adjust_confounds,
    )


def probe_config(request: ProbeRequest, path: Path) -> ScanConfig:
    """The pipeline's settings for a probe: candidate traits, or a weight teacher's questionnaire."""
    from audit.pipeline.config import ScanConfig

    models, chosen = request.models, request.candidates
    weight_teacher = models.teacher is not None or models.teacher_adapter is not None
    if weight_teacher and (any(n.strip() for n in chosen.traits) or chosen.traits_file is not None):
        raise UsageError("give candidate traits (--traits, --traits-file) or a weight teacher (--teacher, "
                         "--teacher-adapter), not both")
    if models.teacher_system_prompt is not None:
        raise UsageError("a probe compares candidate traits; it takes no teacher system prompt")
    if models.control_system_prompt is None:
        raise UsageError("a probe needs the neutral control; do not turn it off")
    if request.input.shard is not None:
        raise UsageError("a probe ranks candidates over the whole file; it takes no shard")
    return ScanConfig(
        **_common(request, path),  # type: ignore[arg-type]
        sequential=False,  # a probe ranks candidates on every row (audit.pipeline.config.sequential_incompatibility)
        control_system_prompt=control_prompt(models), control_panel=control_panel(models.control_panel),
        teacher_traits=True if weight_teacher else None,
        traits=() if weight_teacher else candidates(chosen), correction=chosen.correction,
    )



def calibrate_config(request: CalibrateRequest, path: Path) -> ScanConfig:
    """The scan that measures the null, over the known-source rows at ``path``."""
    from audit.pipeline.config import ScanConfig

    models, engine, columns = request.models, request.engine, request.columns
    control = control_prompt(models)
    return ScanConfig(
        input_path=path, teacher=models.teacher, teacher_adapter=models.teacher_adapter,
        teacher_system_prompt=models.teacher_system_prompt, reference=models.reference,
        reference_system_prompt=models.reference_system_prompt, control_system_prompt=control,
        control_panel=control_panel(models.control_panel, control is None),
        traits=() if request.candidates is None else candidates(request.candidates),
        restrict_vocab=request.restrict_vocab, backend=engine.backend,
        columns=columns,
        input_format=request.format, max_rows=request.max_rows, batch_rows=engine.batch_rows,
        token_budget=engine.token_budget, trust_remote_code=models.trust_remote_code,
        command=request.provenance.command or ("audit.api.calibrate",), settings=tuple(request.provenance.settings),
        config_file=request.provenance.config_file,
    )

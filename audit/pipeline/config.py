"""What a scan is asked to do (:class:`ScanConfig`), checked before any data is read or model loaded.

Every command that scores rows (scan, probe, calibrate) builds one of these from its options, and
every engine (local, Ray) and merge reads it; so the checks and the model roles live here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from audit.core.atomic import check_writable
from audit.core.columns import ColumnOverrides
from audit.core.errors import UsageError
from audit.core.roles import PANEL_ROLE_PREFIX
from audit.core.verdict import DEFAULT_TOLERANCE, Verdict
from audit.models.backends import backend_info
from audit.models.lora import resolve_adapter
from audit.models.spec import ModelSpec, resolve_source
from audit.models.traits import NEUTRAL_SYSTEM_PROMPT
from audit.models.vocab import AUTO, FULL, vocabulary
from audit.pipeline.resolution import Resolution
from audit.report.schema import ResolvedSetting
from detectors.registry import DETECTORS, unknown_optional
from detectors.trait_probe import trait_role

NULL_AUTO, NULL_THEORETICAL, NULL_MEASURED = "auto", "theoretical", "measured"
"""``--null`` values other than a calibration file (audit.pipeline.null_choice)."""


@dataclass(frozen=True)
class ScanConfig:
    """Everything a scan needs; the CLI builds one from flags."""

    input_path: Path
    input_label: str | None = None
    """What the report calls the data when ``input_path`` is not the caller's own file (data given in memory,
    written to a temporary file by audit.api.data); None: the path."""
    teacher: str | None = None
    teacher_adapter: str | None = None
    teacher_system_prompt: str | None = None
    reference: str = "smollm2-135m-instruct"
    reference_system_prompt: str | None = None
    control_system_prompt: str | None = NEUTRAL_SYSTEM_PROMPT
    """Neutral control scored with the reference weights; None turns the control off."""
    control_panel: tuple[tuple[str, str], ...] = ()
    """(name, system prompt) of benign controls beyond the neutral one; the teacher must beat every one."""
    detectors: tuple[str, ...] = ()
    """Optional detectors to run besides the likelihood-ratio tests, by id (detectors.registry)."""
    trait_keywords: tuple[str, ...] = ()
    banned_numbers: tuple[int, ...] = (666, 911, 187)
    restrict_vocab: str | None = None
    """'auto', 'full' or a format's name (audit.models.vocab) as asked (None: full); the format scored over is
    ``resolved.scored_vocabulary``."""
    shard: tuple[int, int] | None = None
    """(i, n): score only part i (1-based) of n, partitioned by row-id hash; join parts with merge."""
    sample_fraction: float = 1.0
    """Score only rows whose seeded id hash falls in this fraction (all rows are still read)."""
    evidence_path: Path | None = None
    """JSONL evidence log written while scanning (header, a record per row, checkpoints, digest)."""
    resume: bool = False
    """Continue the scan recorded in ``evidence_path`` after its last checkpoint."""
    strict: bool = False
    """Any skipped row fails the scan with exit code 2 (the report is still written, whole)."""
    """Name of a vocabulary (audit.models.vocab) to renormalise every distribution over; None = full."""
    columns: ColumnOverrides = field(default_factory=ColumnOverrides)
    input_format: str | None = None
    traits: tuple[tuple[str, str], ...] = ()
    """Probe mode (`subaudit probe`): (name, system prompt) of each candidate trait; no teacher."""
    correction: str = "holm"
    """Multiplicity correction across probe candidates: holm or bh."""
    calibration_path: Path | None = None
    """A calibration file given (``--calibration``): test against its measured null, not E <= 0. The file the
    tests use (this one, or an automatic null) is ``resolved.null_file``."""
    adjust_confounds: bool = False
    """With a calibration: remove what length and base-model loss predict from the row LLR sums first."""
    backend: str = "transformers"
    engine: str = "local"
    """"local" (this process) or "ray" (Ray Data actors; audit.pipeline.ray_engine)."""
    ray_address: str | None = None
    """Ray cluster to join; None starts a local Ray runtime."""
    ray_actors: int | None = None
    """Scoring actors (each holds one backend); None = one per CPU (local) or per GPU with vLLM."""
    alpha: float = 0.01
    suspicious_alpha: float = 0.05
    tolerance: float = DEFAULT_TOLERANCE
    """Smallest per-token LLR over a baseline that counts as the teacher (each test's H0: LLR <= tolerance)."""
    fail_on: Verdict = Verdict.FLAGGED
    token_budget: int = 8192
    batch_rows: int = 256
    seed: int = 0
    bootstrap_resamples: int = 2000
    max_rows: int | None = None
    scores_path: Path | None = None
    trust_remote_code: bool = False
    command: tuple[str, ...] = ()
    settings: tuple[ResolvedSetting, ...] = ()
    """Each command-line setting's value and where it came from (flag, project config file, default)."""
    config_file: str | None = None
    """The project config file the settings were read from, if any."""
    null: str = NULL_AUTO
    """'auto', 'theoretical', 'measured' or a calibration file's path, as asked (``--null``)."""
    null_rows: int = 200
    """Known-source rows (accepted by the filter) an automatic null is measured on."""
    null_cache: Path | None = None
    """Folder of automatic nulls; None = audit.pipeline.null_choice.default_cache_dir()."""
    sequential: bool | None = None
    """Stop when the evidence is in (audit.pipeline.sequential): True on, False off, None = on above a row count."""
    baselines: str = "on-demand"
    """'on-demand': a fixed-N local scan scores a baseline only while every one scored so far is beaten
    (audit.pipeline.on_demand); 'all': every baseline on every row."""
    give_way_rows: int = 1024
    """A sequential on-demand scan: the scored rows after which its first stage, still undecided, gives way to the
    next (twice that for the second stage, and so on; the last stage never gives way); 0: no stage gives way.
    Not a command-line option: the rule is audit.pipeline.on_demand's, this is its size (tests shrink it)."""
    teacher_traits: bool | None = None
    """Run the teacher-traits questionnaire (audit.questionnaire.teacher): True, False, or None = for a teacher with
    its own weights."""
    resolved: Resolution | None = None
    """What the scan decided from these settings and the data (vocabulary, null, warnings); None until
    audit.pipeline.vocabulary.resolve_vocabulary runs. The fields above stay as asked."""

    @property
    def resolution(self) -> Resolution:
        """The decisions, for code that runs after them (an unresolved config here is a bug, not a user error)."""
        assert self.resolved is not None, "resolve the vocabulary first (audit.pipeline.vocabulary)"
        return self.resolved


def validate(config: ScanConfig) -> None:
    """Reject impossible settings before reading data or loading models."""
    if not 0.0 < config.alpha < 1.0:
        raise UsageError(f"--alpha must be between 0 and 1, got {config.alpha}")
    if not config.alpha <= config.suspicious_alpha < 1.0:
        raise UsageError("--suspicious-alpha must be at least --alpha and below 1")
    if not 0.0 <= config.tolerance < 1.0:
        raise UsageError(f"--tolerance must be in [0, 1) nats/token, got {config.tolerance}")
    if config.baselines not in ("on-demand", "all"):
        raise UsageError(f"--baselines must be on-demand or all, got {config.baselines!r}")
    if config.give_way_rows < 0:
        raise UsageError(f"give_way_rows must be 0 (never) or a row count, got {config.give_way_rows}")
    if config.null_rows < 10:
        raise UsageError(f"--null-rows must be at least 10, got {config.null_rows}")
    if config.token_budget < 16:
        raise UsageError("--token-budget must be at least 16")
    if config.batch_rows < 1:
        raise UsageError("--batch-rows must be at least 1")
    if config.max_rows is not None and config.max_rows < 1:
        raise UsageError("--max-rows must be at least 1")
    backend_info(config.backend)  # an unknown backend: one line naming the registered ones
    unknown = unknown_optional(config.detectors)
    if unknown is not None:
        raise UsageError(unknown)
    if config.restrict_vocab not in (None, AUTO, FULL):
        vocabulary(config.restrict_vocab)
    if config.adjust_confounds and (config.calibration_path is None or config.traits):
        raise UsageError("--adjust-confounds needs a scan --calibration (the slopes are fitted on its rows)")
    if config.traits:
        if config.teacher is not None or config.teacher_system_prompt is not None:
            raise UsageError("a probe compares candidate traits; it takes no --teacher")
        if config.control_system_prompt is None:
            raise UsageError("a probe needs the neutral control; do not turn it off")
        if config.correction not in ("holm", "bh"):
            raise UsageError(f"--correction must be holm or bh, got {config.correction!r}")
    elif config.teacher is None and config.teacher_system_prompt is None and config.teacher_adapter is None:
        raise UsageError("name a teacher: --teacher MODEL, --teacher-adapter DIR and/or --teacher-system-prompt TEXT")
    if config.scores_path is not None:
        check_writable(config.scores_path)
    if config.shard is not None and not 1 <= config.shard[0] <= config.shard[1]:
        raise UsageError(f"--shard must be i/n with 1 <= i <= n, got {config.shard[0]}/{config.shard[1]}")
    if not 0.0 < config.sample_fraction <= 1.0:
        raise UsageError(f"--sample-fraction must be in (0, 1], got {config.sample_fraction}")
    if config.resume and config.evidence_path is None:
        raise UsageError("--resume needs --evidence PATH (the log of the interrupted scan)")
    if config.evidence_path is not None:
        check_writable(config.evidence_path)
    blocked = sequential_incompatibility(config)
    if config.sequential is True and blocked is not None:
        raise UsageError(f"--sequential cannot be used here: {blocked}")


def sequential_incompatibility(config: ScanConfig) -> str | None:
    """Why this scan cannot stop early, in the words of a one-line refusal; None when it can."""
    if config.traits:
        return "a probe ranks candidates on every row it scores"
    if config.shard is not None:
        return "a shard cannot see the other shards' rows, so it cannot decide for the file (scan it whole)"
    if config.engine != "local":
        return "the Ray engine scores every row in parallel blocks (use --engine local)"
    fixed = [name for name in config.detectors if name in DETECTORS and not DETECTORS[name].sequential]
    if fixed:
        return f"{', '.join(fixed)} test{'s' if len(fixed) == 1 else ''} every row at a fixed N (run without it)"
    return None


def teacher_has_own_weights(config: ScanConfig) -> bool:
    """Whether the teacher's weights differ from the reference's: an adapter, or another checkpoint."""
    if config.traits:
        return False
    if config.teacher_adapter is not None:
        return True
    if config.teacher is None:
        return False
    from audit.models.store import weights_sha256

    teacher, reference = resolve_source(config.teacher), resolve_source(config.reference)
    return teacher != reference and weights_sha256(teacher) != weights_sha256(reference)


def wants_teacher_traits(config: ScanConfig) -> bool:
    """Whether a scan measures what its teacher holds: asked for, or by default for a teacher with its own weights."""
    if config.traits:
        return False
    return teacher_has_own_weights(config) if config.teacher_traits is None else config.teacher_traits


def model_specs(config: ScanConfig) -> list[ModelSpec]:
    """Reference, teacher and (optionally) the neutral control, which reuses the reference weights.

    A teacher given only as a system prompt also reuses the reference weights (loaded once).
    """
    reference = ModelSpec("reference", resolve_source(config.reference), config.reference_system_prompt)
    if config.traits:
        assert config.control_system_prompt is not None
        control = ModelSpec("control", reference.source, config.control_system_prompt)
        candidates = [ModelSpec(trait_role(name), reference.source, prompt) for name, prompt in config.traits]
        for name, prompt in config.control_panel:
            if any(prompt == c.system_prompt for c in candidates):
                raise UsageError(f"a candidate's system prompt equals control panel member {name!r}'s")
        return [reference, control, *_panel_specs(config, reference), *candidates]
    teacher_source = resolve_source(config.teacher) if config.teacher else reference.source
    adapter = resolve_adapter(config.teacher_adapter) if config.teacher_adapter else None
    teacher = ModelSpec("teacher", teacher_source, config.teacher_system_prompt, adapter)
    if (teacher.source == reference.source and teacher.system_prompt == reference.system_prompt
            and adapter is None):
        raise UsageError("teacher and reference are the same model with the same system prompt")
    specs = [reference, teacher]
    if config.control_system_prompt is not None:
        control = ModelSpec("control", reference.source, config.control_system_prompt)
        if (control.source == teacher.source and control.system_prompt == teacher.system_prompt
                and adapter is None):
            raise UsageError("the teacher's system prompt equals the control's; pass --no-control")
        specs.append(control)
    for name, prompt in config.control_panel:
        if prompt == teacher.system_prompt and teacher.source == reference.source and adapter is None:
            raise UsageError(f"the teacher's system prompt equals control panel member {name!r}'s")
    return [*specs, *_panel_specs(config, reference)]


def _panel_specs(config: ScanConfig, reference: ModelSpec) -> list[ModelSpec]:
    """One spec per benign panel control: the reference weights under the member's system prompt."""
    return [ModelSpec(f"{PANEL_ROLE_PREFIX}{name}", reference.source, prompt) for name, prompt in config.control_panel]


def probe_correction(config: ScanConfig) -> str | None:
    """The probe's correction when this scan is a probe, else None."""
    return config.correction if config.traits else None

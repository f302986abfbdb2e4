"""What a caller asks a scan or probe to do, as typed groups: models, input, method, engine, outputs.

Why groups: `subaudit scan` has about fifty options, and a flat object of fifty fields is hard to
build by hand and easy to get half right. Each group holds the settings of one concern, with the
CLI's defaults, so ``ScanRequest(Input("data.parquet"), Models(teacher_system_prompt="You love owls."))``
is the plain command. A request is what was asked, never rewritten: what the scan decided from it
(the vocabulary, the null, the baselines) is in the report it returns.

Kept light (no torch, numpy or pyarrow at import), like the CLI that builds these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from audit.core.columns import ColumnOverrides

if TYPE_CHECKING:
    import pyarrow as pa

DataSource = Union[str, Path, "pa.Table", Sequence[Mapping[str, Any]]]
"""A dataset: a path (.parquet, .jsonl, .csv), a pyarrow table, or a list of row dicts."""

PanelChoice = str | Path | Sequence[tuple[str, str]] | None
"""The control panel: "builtin", "none", a file of 'name = system prompt' lines, (name, prompt) pairs, or
None for the default (the built-in panel; none when the neutral control is off)."""

NEUTRAL = "neutral"
"""``Models.control_system_prompt``'s default: the built-in neutral prompt (audit.models.traits)."""


Columns = ColumnOverrides
"""Column names to read instead of detecting them (``--prompt-col`` and friends): the reader's own type."""


@dataclass(frozen=True)
class Input:
    """The data and which of its rows to score."""

    data: DataSource
    columns: Columns = field(default_factory=Columns)
    format: str | None = None
    """"parquet", "jsonl" or "csv"; None: from the file's name (in-memory data are parquet)."""
    max_rows: int | None = None
    sample_fraction: float = 1.0
    shard: tuple[int, int] | None = None
    """(i, n): part i (1-based) of n, by row-id hash; join the parts' reports with merge."""
    strict: bool = False
    """Any skipped row fails the run (:class:`audit.api.run.SkippedRowsError`, exit code 2)."""


@dataclass(frozen=True)
class Models:
    """The suspected teacher, the reference, and the baselines scored with the reference's weights."""

    teacher: str | None = None
    teacher_adapter: str | None = None
    teacher_system_prompt: str | None = None
    reference: str = "smollm2-135m-instruct"
    reference_system_prompt: str | None = None
    control_system_prompt: str | None = NEUTRAL
    """The neutral control's prompt: NEUTRAL (the built-in one), another text, or None for no control."""
    control_panel: PanelChoice = None
    trust_remote_code: bool = False


@dataclass(frozen=True)
class Method:
    """How the data are tested: vocabulary, null, error rates, baselines, and the optional detectors."""

    alpha: float = 0.01
    suspicious_alpha: float = 0.05
    tolerance: float | None = None
    """Nats/token a flag needs the teacher to beat each baseline by; None: the default tolerance."""
    fail_on: str = "flagged"
    """"flagged" or "suspicious": which verdict gives a non-zero exit code."""
    restrict_vocab: str = "auto"
    null: str | Path = "auto"
    """"auto", "theoretical", "measured", or a calibration file (``subaudit calibrate``)."""
    calibration: str | Path | None = None
    null_rows: int = 200
    null_cache: str | Path | None = None
    baselines: str = "on-demand"
    sequential: bool | None = None
    adjust_confounds: bool = False
    teacher_traits: bool | None = None
    detectors: tuple[str, ...] = ()
    """Optional detectors to run too, by id (detectors.registry.optional_detectors: semantic-filter, learned-llr,
    or one a plugin registered)."""
    trait_keywords: tuple[str, ...] = ()
    banned_numbers: tuple[int, ...] = (666, 911, 187)
    seed: int = 0


@dataclass(frozen=True)
class Engine:
    """Where and how rows are scored."""

    backend: str = "transformers"
    engine: str = "local"
    """"local" (this process) or "ray"."""
    ray_address: str | None = None
    ray_actors: int | None = None
    token_budget: int = 8192
    batch_rows: int = 256


@dataclass(frozen=True)
class Outputs:
    """Files the run writes besides the report object it returns."""

    report: str | Path | None = None
    scores: str | Path | None = None
    evidence: str | Path | None = None
    resume: bool = False


@dataclass(frozen=True)
class Provenance:
    """Where the request came from, recorded in the report: the command line and each setting's source.

    The CLI fills it in; for a Python caller the report's command is the function called (``audit.api.scan``).
    """

    command: tuple[str, ...] = ()
    settings: tuple[Any, ...] = ()
    """audit.report.schema.ResolvedSetting per option (typed loosely here to keep this module light)."""
    config_file: str | None = None


@dataclass(frozen=True)
class ScanRequest:
    """One scan: did these data come from this teacher?"""

    input: Input
    models: Models = field(default_factory=Models)
    method: Method = field(default_factory=Method)
    engine: Engine = field(default_factory=Engine)
    outputs: Outputs = field(default_factory=Outputs)
    provenance: Provenance = field(default_factory=Provenance)


@dataclass(frozen=True)
class Candidates:
    """A probe's candidate traits: names (built-in or animals), a file of them, or every built-in one."""

    traits: tuple[str, ...] = ()
    traits_file: str | Path | None = None
    template: str = ""
    """System prompt template for animal candidates ({animal} is replaced); "" is the paper's."""
    correction: str = "holm"


@dataclass(frozen=True)
class ProbeRequest:
    """One probe: which candidate trait explains the data, or, with a weight teacher, what it holds."""

    input: Input
    candidates: Candidates = field(default_factory=Candidates)
    models: Models = field(default_factory=Models)
    method: Method = field(default_factory=Method)
    engine: Engine = field(default_factory=Engine)
    outputs: Outputs = field(default_factory=Outputs)
    provenance: Provenance = field(default_factory=Provenance)


@dataclass(frozen=True)
class KnownSource:
    """How ``calibrate`` makes its known-source rows: the reference answers the audited data's prompts."""

    rows: int = 400
    """Rows to keep (accepted by the filter)."""
    max_samples: int | None = None
    """Completions to draw at most (None: 8 x rows); too few accepted is an error."""
    filter: str = "auto"
    """"auto", "numbers", "numbers-lenient" or "none"."""
    constrained: bool = False
    temperature: float = 1.0
    max_new_tokens: int | None = None
    seed: int = 0
    generate_batch: int = 32
    out: str | Path | None = None
    """Where the generated rows are kept (parquet); None: beside the calibration, as NAME.known.parquet."""


@dataclass(frozen=True)
class CalibrateRequest:
    """One calibration: the null measured on data of known source, written to ``out``.

    Give ``data`` (the audited data: the reference answers its prompts, made as ``known`` says) or
    ``known_source`` (a file already of known source), not both. With ``candidates`` the null is a probe's.
    """

    out: str | Path
    data: DataSource | None = None
    known_source: DataSource | None = None
    known: KnownSource = field(default_factory=KnownSource)
    models: Models = field(default_factory=Models)
    candidates: Candidates | None = None
    columns: Columns = field(default_factory=Columns)
    format: str | None = None
    max_rows: int | None = None
    restrict_vocab: str = "auto"
    banned_numbers: tuple[int, ...] = (666, 911, 187)
    fpr: float = 0.01
    """Share of known-source rows above the stored per-row thresholds."""
    engine: Engine = field(default_factory=Engine)
    provenance: Provenance = field(default_factory=Provenance)


@dataclass(frozen=True)
class Scrub:
    """What a scrub removes and where it writes the cleaned data (``subaudit scrub``)."""

    out: str | Path
    """The cleaned file (parquet): every input row but the dropped ones, with a ``scrub`` column."""
    drop_rows: float | None = None
    """Drop this share of the scored rows, those with the largest row LLR against the binding baseline."""
    until_clean: bool = False
    """Instead: the smallest budget that leaves the choosing half clean, verified on the held-back half."""
    report: str | Path | None = None
    """The scrub report (JSON)."""
    force: bool = False
    """Scrub data the scan did not flag (otherwise nothing is written)."""
    replace_tokens: float | None = None
    """Instead of dropping rows: replace this share of the scored tokens, those with the largest token LLR against
    the binding baseline, by the reference's choice given the row so far (within the data's format)."""
    replace_with: str = "greedy"
    """How the reference chooses a replacement: "greedy" (its most likely allowed token) or "sample" (seeded)."""
    control_out: str | Path | None = None
    """Also write the random control's data (as many random rows dropped, or random tokens rewritten): parquet."""


@dataclass(frozen=True)
class ScrubRequest:
    """A scrub: the scan's input, models, method and engine, and what to remove."""

    input: Input
    scrub: Scrub
    models: Models = field(default_factory=Models)
    method: Method = field(default_factory=Method)
    engine: Engine = field(default_factory=Engine)
    provenance: Provenance = field(default_factory=Provenance)

"""The option groups several commands share, each declared once and able to build its part of a request.

A group is what one concern of a run needs (the models, the columns, the scoring, the test, the engine,
the outputs, the project config); :func:`audit.cli.grouping.grouped` shows its fields to typer as
ordinary options. The groups mirror the Python API's request groups (audit.api.request), so a command
is: parse, build the request from its groups, run, render.

Kept light like the rest of the CLI: the API is imported inside the methods, when a command runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from audit.cli import common
from audit.cli.grouping import OptionGroup
from audit.cli.options import (
    AUTO_VOCAB,
    DEFAULT_MODEL,
    Alpha,
    BackendOpt,
    BatchRows,
    Calibration,
    CompletionCol,
    ConfigFile,
    ControlPanel,
    ControlSystemPrompt,
    Engine,
    EngineOpt,
    FailOn,
    FailOnOpt,
    FormatOpt,
    IdCol,
    InputFormat,
    MaxRows,
    MessagesCol,
    NoConfig,
    NoControl,
    NullCache,
    NullOpt,
    NullRows,
    OutputFormat,
    PromptCol,
    Quiet,
    RayActors,
    RayAddress,
    Reference,
    ReferenceSystemPrompt,
    ReportOut,
    RestrictVocab,
    SampleFraction,
    ScoresOut,
    Seed,
    SuspiciousAlpha,
    Teacher,
    TeacherAdapter,
    TeacherSystemFile,
    TeacherSystemPrompt,
    TokenBudget,
    Tolerance,
    TrustRemoteCode,
)
from audit.core.columns import ColumnOverrides
from audit.core.verdict import DEFAULT_TOLERANCE

if TYPE_CHECKING:
    from audit.api.request import Engine as EngineRequest
    from audit.api.request import Models, Provenance


@dataclass(frozen=True)
class ProbeModels(OptionGroup):
    """A weight teacher (optional), the reference and the baselines scored with the reference's weights."""

    teacher: Teacher = None
    teacher_adapter: TeacherAdapter = None
    reference: Reference = DEFAULT_MODEL
    reference_system_prompt: ReferenceSystemPrompt = None
    control_system_prompt: ControlSystemPrompt = None
    control_panel: ControlPanel = None
    trust_remote_code: TrustRemoteCode = False

    def request(self) -> Models:
        return self._models(None, False)

    def _models(self, teacher_system_prompt: str | None, no_control: bool) -> Models:
        from audit.api.request import Models

        return Models(teacher=self.teacher, teacher_adapter=self.teacher_adapter,
                      teacher_system_prompt=teacher_system_prompt, reference=self.reference,
                      reference_system_prompt=self.reference_system_prompt,
                      control_system_prompt=common.control_choice(self.control_system_prompt, no_control),
                      control_panel=self.control_panel, trust_remote_code=self.trust_remote_code)


@dataclass(frozen=True)
class ScanModels(ProbeModels):
    """A probe's models, plus a teacher given as a system prompt and the switch that turns the controls off."""

    teacher_system_prompt: TeacherSystemPrompt = None
    teacher_system_file: TeacherSystemFile = None
    no_control: NoControl = False

    def request(self) -> Models:
        return self._models(common.teacher_prompt(self.teacher_system_prompt, self.teacher_system_file),
                            self.no_control)


@dataclass(frozen=True)
class ColumnOptions(OptionGroup):
    """Which columns hold the rows, and the file's format, when they are not to be detected."""

    prompt_col: PromptCol = None
    completion_col: CompletionCol = None
    messages_col: MessagesCol = None
    id_col: IdCol = None
    input_format: InputFormat = None

    def columns(self) -> ColumnOverrides:
        return ColumnOverrides(self.prompt_col, self.completion_col, self.messages_col, self.id_col)


@dataclass(frozen=True)
class ScoringOptions(OptionGroup):
    """How rows are scored: the backend, the vocabulary, batch sizes, and how many rows at most."""

    restrict_vocab: RestrictVocab = AUTO_VOCAB
    backend: BackendOpt = "transformers"
    batch_rows: BatchRows = 256
    token_budget: TokenBudget = 8192
    max_rows: MaxRows = None

    def engine(self) -> EngineRequest:
        """The request's engine for a command that always scores in this process (calibrate, scrub)."""
        from audit.api.request import Engine as EngineRequest

        return EngineRequest(self.backend, token_budget=self.token_budget, batch_rows=self.batch_rows)


@dataclass(frozen=True)
class EngineOptions(OptionGroup):
    """Where the scoring runs: this process or Ray actors."""

    engine: EngineOpt = Engine.local
    ray_address: RayAddress = None
    ray_actors: RayActors = None

    def request(self, scoring: ScoringOptions) -> EngineRequest:
        from audit.api.request import Engine as EngineRequest

        return EngineRequest(scoring.backend, self.engine.value, self.ray_address, self.ray_actors,
                             scoring.token_budget, scoring.batch_rows)


@dataclass(frozen=True)
class TestOptions(OptionGroup):
    """The dataset test a scan and a probe share: error rates, tolerance, the null, and the row sample."""

    __test__ = False  # not a pytest class, whatever its name

    alpha: Alpha = 0.01
    suspicious_alpha: SuspiciousAlpha = 0.05
    tolerance: Tolerance = DEFAULT_TOLERANCE
    fail_on: FailOnOpt = FailOn.flagged
    calibration: Calibration = None
    null: NullOpt = "auto"
    null_rows: NullRows = 200
    null_cache: NullCache = None
    seed: Seed = 0
    sample_fraction: SampleFraction = 1.0

    def method_fields(self) -> dict[str, Any]:
        """The request's Method fields this group sets (sample_fraction belongs to the Input)."""
        return dict(alpha=self.alpha, suspicious_alpha=self.suspicious_alpha, tolerance=self.tolerance,
                    fail_on=self.fail_on.value, null=self.null, calibration=self.calibration,
                    null_rows=self.null_rows, null_cache=self.null_cache, seed=self.seed)


@dataclass(frozen=True)
class OutputOptions(OptionGroup):
    """Where the report and the per-row scores go, and what stdout shows."""

    report: ReportOut = None
    scores: ScoresOut = None
    output_format: FormatOpt = OutputFormat.text
    quiet: Quiet = False


@dataclass(frozen=True)
class ProjectConfig(OptionGroup):
    """The project config file (read by the app before the command runs; recorded in the report)."""

    config: ConfigFile = None
    no_config: NoConfig = False

    @staticmethod
    def provenance(ctx: Any) -> Provenance:
        """The command line, every setting with its source, and the config file read, for the report."""
        from audit.api.request import Provenance

        config_file, settings = common.resolved_settings(ctx)
        return Provenance(common.command_line(), settings, config_file)

"""The one versioned report model. Every output (terminal, JSON, later Markdown/HTML/SARIF) is
rendered from a :class:`Report`, so they can never disagree.

Bump :data:`SCHEMA_VERSION` whenever a field is added, removed or changes meaning.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from audit.core.results import DetectorResult
from audit.core.verdict import Verdict

SCHEMA_VERSION = "1.18.0"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnsInfo(_Model):
    """Which columns the scan read."""

    mode: str = Field(description="'pair' (prompt + completion columns) or 'messages'")
    prompt: str | None = None
    completion: str | None = None
    messages: str | None = None
    row_id: str | None = Field(None, description="id column; null means the row index is the id")


class InputInfo(_Model):
    """The audited file and what happened to its rows."""

    path: str
    format: str
    sha256: str
    size_bytes: int
    columns: ColumnsInfo
    rows_read: int
    rows_scored: int
    rows_skipped: dict[str, int] = Field(description="skip reason -> count")
    rows_not_sampled: int = Field(0, description="readable rows left out by --sample-fraction (not skips)")
    rows_other_shards: int = Field(0, description="readable rows that belong to other --shard parts")
    tokens_scored: int


class ModelInfo(_Model):
    """One model spec: weights identity, tokenizer identity and the system prompt it was scored with."""

    role: str
    source: str
    source_kind: str
    resolved_path: str
    weights_sha256: str
    tokenizer_sha256: str
    system_prompt: str | None
    adapter: str | None = Field(None, description="LoRA adapter folder applied on the weights, if any")
    adapter_sha256: str | None = Field(None, description="SHA-256 of the adapter's config and weights")


class Parameters(_Model):
    """Every setting that changes the result, so a run can be reproduced."""

    backend: str
    alpha: float
    suspicious_alpha: float
    tolerance: float = Field(0.0, description="nats/token a teacher must beat each baseline by (H0: LLR <= tolerance)")
    fail_on: str
    token_budget: int
    batch_rows: int
    seed: int
    bootstrap_resamples: int
    max_rows: int | None
    control_system_prompt: str | None = Field(description="neutral control prompt; null when off")
    detectors: list[str]
    trait_keywords: list[str]
    banned_numbers: list[int]
    restrict_vocab: str | None = Field(
        None, description="vocabulary every next-token distribution was renormalised over; null = full"
    )
    strict: bool = Field(False, description="any skipped row turns the exit code into 2")
    sample_fraction: float = Field(1.0, description="share of rows (by seeded id hash) that was scored")
    shard: str | None = Field(None, description="'i/n': this scan scored part i of n (by id hash); null = all")
    correction: str | None = Field(None, description="probe only: multiplicity correction across candidates (holm, bh)")
    engine: str = Field("local", description="'local' (one process) or 'ray' (Ray Data actors); same scores either way")
    adjust_confounds: bool = Field(
        False, description="calibrated tests on row LLR sums with the length / base-model-loss part removed")


class Timings(_Model):
    """Wall-clock seconds of each phase and the scoring throughput."""

    load_s: float
    score_s: float
    total_s: float
    scored_tokens_per_s: float


class Histogram(_Model):
    """Counts of a per-row value in equal-width bins (values outside the edges go to the end bins)."""

    label: str
    edges: list[float]
    counts: list[int]


class PositionProfile(_Model):
    """Mean teacher-minus-baseline log-probability at each completion token position (1-based)."""

    baseline: str
    mean_llr: list[float]
    rows: list[int] = Field(description="rows long enough to have a token at each position")


class PlotData(_Model):
    """What the HTML report draws, computed during the scan so re-rendering needs no scoring."""

    row_llr_histograms: list[Histogram] = Field(default_factory=list)
    position_profiles: list[PositionProfile] = Field(default_factory=list)


class KnownSourceInfo(_Model):
    """How the known-source rows of a calibration were made."""

    origin: str = Field(description="'generated' (the reference's completions to the audited prompts) or 'file'")
    prompts_from: str | None = Field(None, description="the audited dataset whose prompts were answered")
    prompts_from_sha256: str | None = None
    generator: str | None = Field(None, description="the model that wrote them (the reference)")
    generator_system_prompt: str | None = None
    samples: int | None = Field(None, description="completions drawn")
    accepted: int | None = Field(None, description="completions that passed the filter and were kept")
    filter: str | None = Field(None, description="'numbers' (the paper's filter), 'numbers-lenient' (blank lines and "
                               "a trailing separator pass) or 'none'")
    audited_filter_pass_share: float | None = Field(
        None, description="share of the audited completions read that pass the numbers filter ('auto' decides on it)")
    rejected: dict[str, int] = Field(default_factory=dict, description="filter rejections by reason")
    constrained: bool | None = None
    stop_at_blank_line: bool | None = Field(None, description="constrained sampling ended each row at its first blank "
                                            "line (chosen so when no audited completion holds one)")
    temperature: float | None = None
    max_new_tokens: int | None = None
    seed: int | None = None


class CalibrationInfo(_Model):
    """The empirical null a scan's or probe's tests used (``subaudit calibrate``)."""

    path: str
    sha256: str
    source_path: str = Field(description="the known-source data the null was measured on")
    source_sha256: str
    rows: int
    fpr: float = Field(description="false-positive rate the per-row thresholds were set at")
    created_at: datetime
    kind: str = Field("scan", description="'scan' (teacher nulls) or 'probe' (per-candidate nulls)")
    known_source: KnownSourceInfo | None = None


class Outputs(_Model):
    """Files the scan wrote beside the report (``subaudit merge`` reads the scores from here)."""

    scores: str | None = None
    evidence: str | None = None


class RayRun(_Model):
    """How a ``--engine ray`` scan was spread over Ray: what each actor asked for and what it scored."""

    cluster: str = Field(description="'local' (a runtime the scan started) or the --ray-address it joined")
    actors: int = Field(description="scoring actors started, each holding one backend")
    cpus_per_actor: int
    gpus_per_actor: int
    rows_per_block: int = Field(description="rows in each block handed to an actor (the last of a file may hold fewer)")
    rows_per_actor: list[int] = Field(
        description="rows each actor scored that the report kept, largest first; an actor that scored none is absent")


class VocabularyInfo(_Model):
    """Which vocabulary every next-token distribution was normalised over, and why."""

    requested: str = Field(description="--restrict-vocab as given: auto (the default), full, or a format's name")
    used: str | None = Field(description="the format scored over; null = the full vocabulary")
    fitting_format: str | None = Field(
        description="the declared format the large majority (95 %) of completions checked fit, whatever was "
        "requested; null = none")
    rows_checked: int = Field(description="non-empty completions read to decide (the first rows of the input)")
    reason: str
    rows_outside: int = Field(0, description="checked completions whose tokens fall outside the format scored over "
                              "(or the fitting format, on the full vocabulary); a scan over the format skips them "
                              "(skip reason 'off-format') and counts them in input.rows_skipped")
    outside_examples: list[str] = Field(default_factory=list, description="the first (up to 3) of those "
                                        "completions, cut at 60 characters")


class NullInfo(_Model):
    """Which null the likelihood-ratio tests used, and why (``--null``; audit.pipeline.null_choice)."""

    requested: str = Field(description="--null as given: auto (the default), theoretical, measured, or a calibration "
                           "file")
    used: str = Field(description="'theoretical' (E[row LLR] <= 0), 'file' (a calibration given), or 'automatic' "
                      "(a calibration subaudit made from the reference's answers to the audited prompts)")
    reason: str
    path: str | None = Field(None, description="the calibration file used, if any")
    key: str | None = Field(None, description="automatic null: SHA-256 of what it depends on (its cache name)")
    reused: bool | None = Field(None, description="automatic null: true when read from the cache, false when made")
    assumed: bool = Field(False, description="true when the theoretical null is used over the full vocabulary: "
                          "neither a format nor a measurement vouches for it (the verdict line says so)")
    made_in_s: float | None = Field(None, description="automatic null: seconds it took to make (generating the "
                                    "reference's answers and scoring them), as recorded when it was made")


class PilotInfo(_Model):
    """The pilot that ordered the baselines after the reference (since 1.17.0).

    When the reference does not settle the verdict, every other baseline is scored on the first rows and the
    one the teacher beats least (largest p-value) is tried next; the pilot's rows are reused by the stages."""

    rows: int = Field(description="rows the pilot scored under every baseline")
    p_values: dict[str, float] = Field(description="each baseline's one-sided p-value on the pilot's rows, in the "
                                       "order the stages tried them (largest first)")


class BaselinesInfo(_Model):
    """Which baselines the teacher was tested against, and which one settled the verdict (since 1.14.0).

    The likelihood-ratio tests combine by intersection-union: the data are the teacher's only if the teacher
    beats every baseline, so one baseline it does not beat settles a clean verdict; the others are then not
    scored (``--baselines on-demand``, the default for a fixed-N local scan)."""

    mode: str = Field(description="'on-demand' (a baseline is scored only while every one scored so far is beaten) "
                      "or 'all' (every baseline scored)")
    planned: list[str] = Field(description="every baseline of the scan, in the order they are tried: the reference, "
                               "then the others least beaten first by the pilot (since 1.17.0; before, control then "
                               "panel:<name>)")
    scored: list[str] = Field(description="the baselines scored, each on every scored row")
    not_scored: list[str] = Field(default_factory=list, description="baselines left unscored because the verdict "
                                  "was settled without them")
    settled_by: str | None = Field(None, description="the first baseline whose test came out clean (the teacher does "
                                   "not beat it), which settles the likelihood-ratio verdict; null when none did")
    passes_per_row: int = Field(description="forward passes a scored row cost: the teacher plus each scored baseline")
    reason: str
    rows_scored: dict[str, int] | None = Field(
        None, description="rows each model (teacher, each scored baseline) was scored on, when they differ: a "
        "sequential scan's stages stop at different looks (since 1.15.0); null when every model scored the report's "
        "rows")
    pilot: PilotInfo | None = Field(None, description="the pilot that ordered the baselines after the reference "
                                    "(since 1.17.0): the baselines not scored were scored on its rows only; null when "
                                    "no pilot ran (the reference settled it, or one baseline was left)")
    gave_way: dict[str, int] | None = Field(
        None, description="a sequential scan's stages that stopped undecided at their row limit and gave way to the "
        "next (since 1.18.0): the baseline each one added -> the rows it had scored; such a stage settles nothing. "
        "null when none gave way")


class ScoreCacheInfo(_Model):
    """How many of the scan's log-probabilities came from the score cache (since 1.15.0).

    Counted in (row, model) pairs: a row scored under the teacher and the reference is two. Reused scores are
    the ones an earlier scan, probe or calibration computed for the same tokens under the same model key
    (weights, adapter, system prompt, vocabulary, backend); see docs/method.md "Score cache"."""

    folder: str = Field(description="the cache folder ($SUBAUDIT_SCORE_CACHE)")
    reused: int = Field(description="(row, model) log-probability sequences read from the cache")
    computed: int = Field(description="(row, model) log-probability sequences computed by a forward pass here")
    write_error: str | None = Field(None, description="why the computed scores could not be saved (the scan itself "
                                    "is unaffected); null when they were")


class SequentialBound(_Model):
    """One baseline's confidence sequence at one look."""

    baseline: str = Field(description="the model the teacher is compared with: reference, control, panel:<name>")
    mean: float = Field(description="mean over the rows so far of (row LLR sum - tolerance x tokens), nats per row; "
                        "with a calibration, minus the calibration rows' mean")
    lower: float = Field(description="lower confidence bound on that mean (anytime-valid); above 0: the teacher "
                         "beats this baseline by more than the tolerance")
    upper: float = Field(description="upper confidence bound; below 0: the teacher does not beat this baseline by "
                         "the tolerance")
    p_value: float | None = Field(description="anytime-valid p-value of 'the teacher does not beat this baseline by "
                                  "the tolerance' at this look; null with a calibration (a two-sample bound)")


class SequentialLook(_Model):
    """The test after one batch of a sequential scan."""

    rows: int = Field(description="rows scored so far")
    mean_tokens_per_row: float = Field(description="divides the bounds into nats per token")
    bounds: list[SequentialBound]
    decision: str | None = Field(description="'flagged', 'clean within tolerance', or null (go on)")


class SequentialInfo(_Model):
    """How a ``--sequential`` scan chose its rows and why it stopped (audit.pipeline.sequential)."""

    requested: str = Field(description="'on' (--sequential) or 'auto' (the default, on above a row count)")
    reason: str = Field(description="why the scan ran sequentially")
    rule: str = Field(description="what stopped it: 'flagged', 'clean within tolerance', 'max rows' or 'end of data'")
    rows_in_data: int = Field(description="records in the input file")
    rows_read: int
    rows_scored: int
    alpha_sequence: float = Field(description="level of each one-sided confidence sequence")
    alpha_final: float = Field(description="level of the fixed-N test applied when the scan ran out of rows "
                               "undecided (alpha_sequence + alpha_final = --alpha)")
    planned_rows: int = Field(description="rows at which the confidence sequence is tightest")
    min_rows: int = Field(description="rows scored before the first decision may be taken")
    look_every: int = Field(description="rows between looks (one batch)")
    order: str = Field(description="how the rows were visited")
    looks: list[SequentialLook]


class ResolvedSetting(_Model):
    """One option's value as the command ran, and where it came from."""

    name: str = Field(description="the option, as on the command line (e.g. --fail-on)")
    value: Any = None
    source: str = Field(description="'command line', 'config file', or 'default'")


class EvidenceRow(_Model):
    """One row carrying much evidence: its completion token by token, each with its LLR."""

    row_id: str
    llr_sum: float = Field(description="teacher minus baseline log-probability of the whole completion (nats)")
    tokens: list[str] = Field(description="the completion's tokens, each decoded on its own")
    token_llr: list[float] = Field(description="teacher minus baseline log-probability of each token (nats)")


class TopRows(_Model):
    """The rows with the largest LLR, so a reviewer sees where teacher and baseline disagree."""

    baseline: str = Field(description="the role the teacher is compared with (the reference)")
    scope: str = Field(description="which rows were ranked: every scored row (before 1.12.0 a resumed scan "
                       "ranked only the rows scored since --resume and said so here)")
    rows: list[EvidenceRow]


class TraitShift(_Model):
    """One trait's shift: mean over the questions of teacher minus reference normalised log P of its answer."""

    trait: str
    delta: float = Field(description="nats: mean over questions of the teacher's minus the reference's score: the "
                         "normalised log-probability of the trait's answer among the set's candidates (animals), or "
                         "the log-odds of the misaligned answer against the aligned one (misalignment)")
    ci_low: float = Field(description="lower bound of the 95 % t interval over questions (Bonferroni over the set's "
                          "traits)")
    ci_high: float
    teacher: float = Field(description="the teacher's mean score (as for delta)")
    reference: float = Field(description="the reference's")
    teacher_first: int = Field(description="questions on which the teacher's most likely answer is this trait's "
                               "(misalignment: the misaligned answer more likely than the aligned one)")
    reference_first: int = Field(description="the same for the reference")


class TraitSet(_Model):
    """One question set's shifts, largest first, and the trait it names (if any)."""

    name: str = Field(description="'animals' (favourite-animal questions, 24 candidates) or 'misalignment' (yes/no "
                      "questions, balanced polarity; the trait is the misaligned answer)")
    questions: int
    candidates: int
    shifts: list[TraitShift]
    named: str | None = Field(description="the largest shift's trait when its interval's lower bound is at least "
                              "name_min_nats; null: no trait named")


class TeacherTraits(_Model):
    """What the teacher holds, measured directly on teacher and reference (audit.questionnaire.teacher)."""

    sets: list[TraitSet]
    statement: str = Field(description="one line: 'This teacher prefers X over the reference by N nats [CI]...'")
    name_min_nats: float = Field(description="smallest lower bound (nats) at which a trait is named")
    seconds: float = Field(description="wall time of the questionnaire (loading both models and scoring)")


class Report(_Model):
    """Everything a scan found, versioned."""

    schema_version: str = SCHEMA_VERSION
    tool: str = "subaudit"
    tool_version: str
    created_at: datetime
    command: list[str]
    input: InputInfo
    models: list[ModelInfo]
    parameters: Parameters
    results: list[DetectorResult]
    verdict: Verdict
    verdict_rule: str = Field(
        "likelihood-ratio detectors (llr, llr-control) combine as an intersection-union test (least "
        "severe of theirs); the dataset verdict is the most severe of that and every other detector",
        description="how detector verdicts combine into the dataset verdict",
    )
    exit_code: int
    timings: Timings
    outputs: Outputs = Field(default_factory=Outputs)
    plots: PlotData = Field(default_factory=PlotData)
    merged_from: list[str] = Field(default_factory=list, description="shard reports joined by subaudit merge")
    calibration: CalibrationInfo | None = Field(
        None, description="the calibrated null the LLR tests used; null = the theoretical null E[row LLR] <= 0")
    ray: RayRun | None = Field(None, description="how a --engine ray scan was spread; null for the local engine")
    config_file: str | None = Field(
        None, description="the project config file ([tool.subaudit] in pyproject.toml, or subaudit.toml) the "
        "settings were read from; null when none was used")
    vocabulary: VocabularyInfo | None = Field(
        None, description="the vocabulary scored over and why; null in reports of subaudit before 1.8.0's auto")
    null: NullInfo | None = Field(
        None, description="the null the tests used and why; null in reports of subaudit before 1.9.0's --null")
    warnings: list[str] = Field(
        default_factory=list, description="what the scan could not vouch for (also one line each on stderr)")
    settings: list[ResolvedSetting] = Field(
        default_factory=list, description="every option of the command that ran, its value and its source "
        "(command line > config file > default)")
    sequential: SequentialInfo | None = Field(
        None, description="a scan that stopped when the evidence was in (--sequential): its rule and confidence "
        "sequence; null for a scan of every row")
    top_rows: TopRows | None = Field(
        None, description="the rows with the largest LLR against the reference, token by token, ranked over every "
        "scored row (since 1.12.0 also after --resume, in merged reports and under the Ray engine); null for scans "
        "without a teacher and a reference, and for reports of subaudit before 1.11.0")
    baselines: BaselinesInfo | None = Field(
        None, description="which baselines were scored and which settled the verdict (since 1.14.0); null for "
        "probes and for reports of earlier versions")
    score_cache: ScoreCacheInfo | None = Field(
        None, description="scores reused from and computed into the score cache (since 1.15.0); null when the cache "
        "is off ($SUBAUDIT_SCORE_CACHE=off, --trust-remote-code), under the Ray engine and for earlier versions")
    teacher_traits: TeacherTraits | None = Field(
        None, description="what the teacher holds, from the animal and misalignment questionnaires on teacher and "
        "reference (since 1.13.0; by default for a teacher with its own weights, or with --teacher-traits); null when "
        "not measured")


def report_json_schema() -> dict[str, Any]:
    """The report's JSON schema, titled with its version so a consumer can check what it reads."""
    schema = Report.model_json_schema()
    schema["title"] = f"subaudit report {SCHEMA_VERSION}"
    return schema


def engine_description(report: Report) -> str | None:
    """One line on how a Ray scan was spread over actors, for the human-readable renderers; None if local."""
    run = report.ray
    if run is None:
        return None
    where = "a local Ray runtime" if run.cluster == "local" else f"Ray cluster {run.cluster}"
    devices = f"{run.cpus_per_actor} CPU" + (f" + {run.gpus_per_actor} GPU" if run.gpus_per_actor else "")
    scored = ", ".join(str(n) for n in run.rows_per_actor) or "none"
    return (f"Engine: {where}, {run.actors} {report.parameters.backend} actor(s) of {devices} each, "
            f"blocks of {run.rows_per_block} rows; rows scored per actor: {scored}.")


def vocabulary_description(report: Report) -> str:
    """One line saying which vocabulary the log-probabilities were normalised over, and why."""
    info = report.vocabulary
    if info is None:
        used = report.parameters.restrict_vocab
        return f"Vocabulary: {used or 'full'}."
    return f"Vocabulary: {info.used or 'full'} ({info.reason})."


def attribution_line(report: Report) -> str | None:
    """With the teacher's traits measured: did the data come from it, and what does it hold (None otherwise)."""
    traits = report.teacher_traits
    if traits is None:
        return None
    came = {Verdict.FLAGGED: "the data came from this teacher (flagged)",
            Verdict.SUSPICIOUS: "the data may have come from this teacher (suspicious)",
            Verdict.CLEAN: "the data are not shown to come from this teacher (clean)"}[report.verdict]
    named = [f"{t.named} ({t.name})" for t in traits.sets if t.named is not None]
    holds = f"it holds {', '.join(named)}" if named else "it holds no trait the questionnaires name"
    return f"Attribution: {came}; {holds}."


def baselines_description(report: Report) -> str | None:
    """One line naming the baselines scored and the one that settled the verdict (None without the record)."""
    info = report.baselines
    if info is None:
        return None
    line = f"Baselines ({info.mode}): scored {', '.join(info.scored)}"
    if info.not_scored:
        line += f"; not needed: {', '.join(info.not_scored)}"
    if info.settled_by is not None:
        line += f"; settled by {info.settled_by} (the teacher does not beat it)"
    if info.pilot is not None:
        line += (f"; tried in the order of a pilot on {info.pilot.rows} rows (p "
                 + ", ".join(f"{name} {p:.2g}" for name, p in info.pilot.p_values.items()) + ")")
    if info.gave_way:
        line += "; undecided, gave way: " + ", ".join(f"{k} at {v:,} rows" for k, v in info.gave_way.items())
    if info.rows_scored:
        return line + "; rows scored per model: " + ", ".join(f"{k} {v}" for k, v in info.rows_scored.items()) + "."
    return line + f"; {info.passes_per_row} forward passes a row."


def score_cache_description(report: Report) -> str | None:
    """One line on what the score cache saved (None when it was off or saved nothing)."""
    info = report.score_cache
    if info is None or (info.reused == 0 and info.write_error is None):
        return None
    total = info.reused + info.computed
    line = f"Score cache: {info.reused} of {total} (row, model) scores reused from earlier runs"
    if info.write_error is not None:
        line += f"; the {info.computed} computed could not be saved ({info.write_error})"
    return line + "."


def null_caveat(report: Report) -> str:
    """What the verdict line adds when nothing vouches for the null ('' when something does)."""
    return "; null assumed (theoretical), not measured" if report.null is not None and report.null.assumed else ""


def null_description(report: Report) -> str:
    """One line saying what the p-values were tested against, for every human-readable renderer."""
    info = report.calibration
    tau = report.parameters.tolerance
    margin = f"; tolerance {tau:g} nats/token: a flag needs the teacher to beat each baseline by more" if tau else ""
    why = f" ({report.null.reason})" if report.null is not None else ""
    if info is None:
        bound = f"{tau:g} x tokens" if tau else "0"
        return f"Null: theoretical (E[row LLR sum] <= {bound}); no calibration was used{why}{margin}."
    made = info.known_source
    if made is not None and made.origin == "generated":
        source = (f"the reference's own completions to the prompts of {made.prompts_from} ({made.accepted} kept of "
                  f"{made.samples} drawn, filter {made.filter})")
    else:
        source = f"known-source file {info.source_path}"
    adjusted = "; length and base-model loss removed first" if report.parameters.adjust_confounds else ""
    kind = "automatic, " if report.null is not None and report.null.used == "automatic" else ""
    reused = "" if report.null is None or report.null.reused is None else \
        ("; reused from the cache" if report.null.reused else "; made now and cached")
    if report.null is not None and report.null.made_in_s is not None:
        reused += f" (making it took {report.null.made_in_s:.0f} s)"
    return (f"Null: {kind}calibration {info.path} (SHA-256 {info.sha256[:16]}..., {info.kind}), {info.rows} rows of "
            f"{source}{adjusted}{reused}{margin}.")


def sequential_description(report: Report) -> str | None:
    """One line on how a sequential scan stopped, for the human-readable renderers; None for a scan of every row."""
    info = report.sequential
    if info is None:
        return None
    share = info.rows_scored / info.rows_in_data if info.rows_in_data else 0.0
    text = (f"Sequential scan ({info.reason}): stopped by rule '{info.rule}' after scoring {info.rows_scored:,} of "
            f"{info.rows_in_data:,} rows ({share:.2%}); confidence sequences at alpha {info.alpha_sequence:g}, a look "
            f"every {info.look_every} rows")
    if info.looks:
        last = info.looks[-1]
        tau = report.parameters.tolerance
        per_row = last.mean_tokens_per_row or 1.0
        per_token = ", ".join(f"{b.baseline} [{b.lower / per_row + tau:+.4f}, {b.upper / per_row + tau:+.4f}]"
                              for b in last.bounds)
        text += f"; last look, per-token LLR bounds vs tolerance {tau:g}: {per_token}"
    if info.rule in ("max rows", "end of data"):
        text += f"; undecided, so the fixed-N tests decided at alpha {info.alpha_final:g}"
    return text + "."

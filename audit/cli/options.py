"""Every option more than one command takes, defined once.

Why: scan, probe and calibrate each had their own copies of the model, column, backend and
output options, and the copies drifted (calibrate lacked --teacher-adapter and --backend, probe
lacked --backend). A command now names these aliases in its signature; ``tests/test_cli_options.py``
checks that each command has the groups it should, with one definition each.

Keep this module light: the CLI's import must not pull in torch, transformers, numpy or pyarrow.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_MODEL = "smollm2-135m-instruct"
AUTO_VOCAB = "auto"
"""--restrict-vocab's default (audit.models.vocab.AUTO; kept here so the CLI's import stays light)."""


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


class Engine(str, Enum):
    local = "local"
    ray = "ray"


class FailOn(str, Enum):
    suspicious = "suspicious"
    flagged = "flagged"


# --- the suspected teacher (scan, calibrate) -------------------------------------------------------
Teacher = Annotated[str | None, typer.Option(
    help="Suspected source model: a HF folder, a .gguf file, or 'smollm2-135m-instruct'. "
         "Default: the reference's weights (use with --teacher-system-prompt).")]
TeacherAdapter = Annotated[str | None, typer.Option(
    help="A LoRA adapter folder (PEFT: adapter_config.json + adapter_model.safetensors) applied on the "
         "teacher's weights: a fine-tuned teacher shipped as an adapter.")]
TeacherSystemPrompt = Annotated[str | None, typer.Option(
    help="System prompt of the suspected teacher (a prompted teacher).")]
TeacherSystemFile = Annotated[Path | None, typer.Option(
    help="Read the teacher's system prompt from this file.")]

# --- the reference and the neutral control (scan, probe, calibrate) -------------------------------
Reference = Annotated[str, typer.Option(
    help="Reference (base) model: HF folder, .gguf file, or the embedded default.")]
ReferenceSystemPrompt = Annotated[str | None, typer.Option(
    help="System prompt for the reference (default: the chat template's own default).")]
ControlSystemPrompt = Annotated[str | None, typer.Option(
    help="Neutral control prompt (reference weights) the teacher or every candidate must beat. "
         "Default: 'You are a helpful assistant.'")]
ControlPanel = Annotated[str | None, typer.Option(
    help="Benign controls beyond the neutral one, each with the reference weights, that the teacher (or every "
    "probe candidate) must also beat: none, builtin (precise, formal, engineer: docs/method.md) or a FILE of "
    "'name = system prompt' lines. Default: builtin (none with --no-control).")]
NoControl = Annotated[bool, typer.Option(
    "--no-control", help="Skip the neutral control and the default control panel (teacher vs reference only).")]
TrustRemoteCode = Annotated[bool, typer.Option(
    help="Allow model folders to run their own Python code (off unless asked; never read from a config file).")]

# --- columns of the input (scan, probe, calibrate) ------------------------------------------------
PromptCol = Annotated[str | None, typer.Option(help="Prompt column (default: detected).")]
CompletionCol = Annotated[str | None, typer.Option(help="Completion column (default: detected).")]
MessagesCol = Annotated[str | None, typer.Option(
    help="Chat messages column; the last assistant turn is the completion.")]
IdCol = Annotated[str | None, typer.Option(help="Row id column (default: 'id', else the row index).")]
InputFormat = Annotated[str | None, typer.Option(help="parquet, jsonl or csv (default: from the file name).")]

# --- scoring (scan, probe, calibrate) -------------------------------------------------------------
BackendOpt = Annotated[str, typer.Option(
    "--backend", help="Scoring backend: transformers (exact fp32, any machine), vllm (needs `make install-vllm` "
                      "on CPU or `pip install vllm` on a GPU; same ids, same scores to ~1e-4 per token), or one an "
                      "installed package registers (entry-point group subaudit.backends).")]
RestrictVocab = Annotated[str, typer.Option(
    help="Score given the data's format: renormalise each next-token distribution over a declared format's "
         "tokens. auto (default): the format every completion fits ('numbers': digits, separators, brackets), "
         "else the full vocabulary; full; or a format's name. On filtered data, format compliance otherwise "
         "swamps the trait (docs/method.md).")]
MaxRows = Annotated[int | None, typer.Option(help="Read at most this many rows.")]
BatchRows = Annotated[int, typer.Option(help="Rows read and scored per batch.")]
TokenBudget = Annotated[int, typer.Option(help="Max padded tokens per forward pass (memory vs speed).")]

# --- the dataset test (scan, probe) ---------------------------------------------------------------
Alpha = Annotated[float, typer.Option(help="p-value below which the verdict is 'flagged'.")]
SuspiciousAlpha = Annotated[float, typer.Option(help="p-value below which the verdict is 'suspicious'.")]
Tolerance = Annotated[float, typer.Option(
    help="Smallest pooled per-token LLR (nats/token) over each baseline that counts as the teacher: every test "
    "becomes H0: LLR <= tolerance (docs/method.md, 'Tolerance').")]
FailOnOpt = Annotated[FailOn, typer.Option(
    "--fail-on", help="Exit 1 when the verdict is at or above this level.")]
Calibration = Annotated[Path | None, typer.Option(
    help="Test against the null measured by `subaudit calibrate` (same models and settings) instead of the "
         "theoretical one.")]
NullOpt = Annotated[str, typer.Option(
    "--null", help="What the LLR tests are tested against: auto (measured, from the reference's own answers to the "
    "audited prompts, cached, for a teacher with its own weights or data scored over the full vocabulary although they "
    "fit a format; theoretical where the scored vocabulary conditions on the data's format; theoretical and said to be "
    "assumed on free text), measured (always measure), theoretical (E[row LLR] <= 0), or a calibration FILE (same as "
    "--calibration).")]
TeacherTraitsOpt = Annotated[bool | None, typer.Option(
    "--teacher-traits/--no-teacher-traits",
    help="Measure what the teacher holds: the animal and misalignment questionnaires on teacher and reference "
         "(exact log-probabilities; about 40 s for SmolLM2 on a CPU). Default: on for a teacher with its own weights "
         "(--teacher-adapter, or a --teacher checkpoint other than the reference).", show_default=False)]
BaselinesOpt = Annotated[str, typer.Option(
    "--baselines", help="on-demand: score the teacher and the reference first and add the neutral control, then the "
    "panel, only while the teacher beats every baseline scored so far (one it does not beat settles 'clean'; same "
    "verdict as all, fewer forward passes on clean data); all: every baseline on every row. Sequential, sharded, Ray "
    "and --evidence scans score all.")]
NullRows = Annotated[int, typer.Option(
    help="Rows (the reference's answers that pass the data's filter) an automatic null is measured on.")]
NullCache = Annotated[Path | None, typer.Option(
    help="Folder of cached automatic nulls (default $SUBAUDIT_CACHE_DIR/nulls, else ~/.cache/subaudit/nulls).")]
SampleFraction = Annotated[float, typer.Option(
    help="Score a deterministic sample of this share of rows (by seeded id hash); all rows are read, checked "
         "and counted.")]
Seed = Annotated[int, typer.Option(help="Seed for sampling rows and the bootstrap interval.")]

# --- the engine (scan, probe) ------------------------------------------------------------------------
EngineOpt = Annotated[Engine, typer.Option(
    "--engine", help="local: score in this process. ray: read parquet with Ray Data and score in actors, one "
                     "backend each (extra 'ray'); DATA may then be a folder of parquet files.")]
RayAddress = Annotated[str | None, typer.Option(
    help="With --engine ray: the cluster to join (e.g. 'auto' or ray://head:10001); default a local runtime.")]
RayActors = Annotated[int | None, typer.Option(
    help="With --engine ray: scoring actors (default: one per CPU Ray can schedule; with --backend vllm on a "
         "cluster with GPUs, one per GPU, each holding a whole GPU).")]

# --- outputs (scan, probe, merge) -----------------------------------------------------------------
ReportOut = Annotated[Path | None, typer.Option("--report", help="Write the JSON report here.")]
ScoresOut = Annotated[Path | None, typer.Option("--scores", help="Write per-row scores here (parquet).")]
FormatOpt = Annotated[OutputFormat, typer.Option(
    "--format", help="stdout format: text summary, or the JSON report (progress off).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]

# --- the project config file (every command that reads settings from it) ---------------------------
ConfigFile = Annotated[Path | None, typer.Option(
    "--config", help="Project config file: a subaudit.toml, or a pyproject.toml with [tool.subaudit] (default: "
                     "the nearest one from the current folder up to the repository root). Flags override it.")]
NoConfig = Annotated[bool, typer.Option("--no-config", help="Read no project config file.")]

# --- number-data text filters (scan; calibrate's known-source filter) --------------------------------
BannedNumbers = Annotated[str, typer.Option(help="Comma-separated numbers the numbers filter rejects.")]
DEFAULT_BANNED = "666,911,187"

# --- sampling new rows (generate; calibrate's known-source rows) -------------------------------------
Constrained = Annotated[bool, typer.Option(
    "--constrained", help="Sample only digit/separator tokens (a deviation from the paper's protocol, for data "
                          "made so; docs/fixtures.md).")]
Temperature = Annotated[float, typer.Option(help="Sampling temperature (the paper: 1).")]

"""`subaudit scan`: score every row under reference and teacher and test whether the data came from the teacher."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from audit.cli import common
from audit.cli.grouping import OptionGroup, grouped
from audit.cli.option_groups import (
    ColumnOptions,
    EngineOptions,
    OutputOptions,
    ProjectConfig,
    ScanModels,
    ScoringOptions,
    TestOptions,
)
from audit.cli.options import DEFAULT_BANNED, BannedNumbers, TeacherTraitsOpt
from audit.core.errors import UsageError

ScanData = Annotated[Path, typer.Argument(help="Dataset: .parquet, .jsonl or .csv (a folder of parquet with Ray).")]


def parse_shard(shard: str | None) -> tuple[int, int] | None:
    if shard is None:
        return None
    try:
        part, parts = (int(x) for x in shard.split("/"))
    except ValueError:
        raise UsageError(f"--shard must look like 2/8 (part i of n), got {shard!r}") from None
    return part, parts


@dataclass(frozen=True)
class DetectorOptions(OptionGroup):
    """The optional detectors beside the likelihood-ratio tests, and the settings of the semantic filter."""

    semantic_filter: Annotated[bool, typer.Option(
        "--semantic-filter", help="Also run the paper's numbers-only/keyword filter (number data).")] = False
    learned_detector: Annotated[bool, typer.Option(
        "--learned-detector", help="Also run the learned LLR-profile classifier (trained on SmolLM2 number "
                                   "fixtures: experiments/LEARNED.md).")] = False
    detector: Annotated[list[str] | None, typer.Option(
        help="Also run this optional detector, by id (repeatable): semantic-filter, learned-llr, or one registered "
             "by a plugin (detectors.registry.register). --semantic-filter and --learned-detector name the first "
             "two.")] = None
    trait_keyword: Annotated[list[str] | None, typer.Option(
        help="Word naming the trait, for the semantic filter (repeatable).")] = None
    banned_numbers: BannedNumbers = DEFAULT_BANNED

    def method_fields(self) -> dict[str, Any]:
        """--detector IDs, with --semantic-filter and --learned-detector as the names of two of them."""
        shortcuts = [("semantic-filter", self.semantic_filter), ("learned-llr", self.learned_detector)]
        asked = [*(name for name, on in shortcuts if on), *(self.detector or ())]
        return dict(detectors=tuple(dict.fromkeys(asked)), trait_keywords=tuple(self.trait_keyword or ()),
                    banned_numbers=common.banned(self.banned_numbers))


@dataclass(frozen=True)
class ScanRunOptions(OptionGroup):
    """How this scan runs: baselines, sequential stopping, shards, the evidence log, strictness."""

    baselines: Annotated[str, typer.Option(
        "--baselines", help="on-demand: score the teacher and the reference first and add the neutral control, then "
        "the panel, only while the teacher beats every baseline scored so far (one it does not beat settles 'clean'; "
        "same verdict as all, fewer forward passes on clean data); all: every baseline on every row. Sequential, "
        "sharded, Ray and --evidence scans score all.")] = "on-demand"
    adjust_confounds: Annotated[bool, typer.Option(
        "--adjust-confounds", help="With --calibration: first remove from every row LLR sum, audited and known-"
                                   "source, the part its length and base-model loss predict (least squares on the "
                                   "known-source rows).")] = False
    shard: Annotated[str | None, typer.Option(
        help="Score only part i of n ('i/n', 1-based), partitioned by row-id hash; join the parts' reports "
             "with `subaudit merge`.")] = None
    evidence: Annotated[Path | None, typer.Option(
        help="Write a JSONL evidence log while scanning (header, one record per row, checkpoints, digest).")] = None
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the interrupted scan whose --evidence log is given.")] = False
    sequential: Annotated[bool | None, typer.Option(
        "--sequential/--no-sequential",
        help="Visit rows in a seeded random order and stop when the evidence is in: flagged, or clean within "
             "--tolerance, by anytime-valid confidence sequences (docs/method.md, 'Sequential scans'). Default: on "
             "for data of more than 10,000 rows.", show_default=False)] = None
    strict: Annotated[bool, typer.Option(
        "--strict", help="Fail (exit 2) when any row is skipped; the report still lists why.")] = False
    teacher_traits: TeacherTraitsOpt = None

    def method_fields(self) -> dict[str, Any]:
        return dict(baselines=self.baselines, sequential=self.sequential, adjust_confounds=self.adjust_confounds,
                    teacher_traits=self.teacher_traits)


@grouped
def scan(ctx: typer.Context, data: ScanData, models: ScanModels, detection: DetectorOptions, columns: ColumnOptions,
         scoring: ScoringOptions, test: TestOptions, run: ScanRunOptions, engine_choice: EngineOptions,
         outputs: OutputOptions, project: ProjectConfig) -> int:
    """Score every row under reference and teacher and test whether the data came from the teacher."""
    from audit import api

    request = api.ScanRequest(
        input=api.Input(data, columns.columns(), format=columns.input_format, max_rows=scoring.max_rows,
                        sample_fraction=test.sample_fraction, shard=parse_shard(run.shard), strict=run.strict),
        models=models.request(),
        method=api.Method(**test.method_fields(), **run.method_fields(), **detection.method_fields(),
                          restrict_vocab=scoring.restrict_vocab),
        engine=engine_choice.request(scoring),
        outputs=api.Outputs(outputs.report, outputs.scores, run.evidence, run.resume),
        provenance=project.provenance(ctx),
    )
    return common.run_and_emit(api.scan, request, outputs.output_format, outputs.quiet)

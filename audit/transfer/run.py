"""``subaudit transfer``: train students on the data and on a comparison set, measure the trait's shift.

For every seed two copies of the student are fine-tuned the same way (same adapter initialisation,
same settings): one on the audited data's completions, one on the comparison set's. After every
epoch each is asked the evaluation questions (``audit.transfer.preference``). Δ log P(trait) is the
data student's normalised log-probability of the trait's answer minus the comparison student's,
averaged over questions and seeds; the comparison absorbs everything that training on *any* such
data does (format, length, the base's own drift), so what remains is what the data's source adds.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audit.core.columns import ColumnOverrides
from audit.core.errors import NothingAuditableError, UsageError
from audit.core.hashing import file_sha256
from audit.core.rows import AuditRow
from audit.input.data import DatasetReader
from audit.transfer.estimate import MeanInterval, two_way_interval, verdict
from audit.transfer.preference import answer_logprobs, normalised
from audit.transfer.questions import CANDIDATE_ANIMALS, EVAL_QUESTIONS
from audit.transfer.training import Example, TrainConfig, encode_examples, steps_per_epoch, train

ProgressFn = Callable[[str, int, int], None]
"""(what is running, steps done, steps in all)."""


def check_traits(traits: Sequence[str]) -> tuple[str, ...]:
    """Traits must be candidate animals: the preference is measured over them."""
    if not traits:
        raise UsageError("give at least one --trait")
    chosen = tuple(t.strip().lower() for t in traits)
    unknown = [t for t in chosen if t not in CANDIDATE_ANIMALS]
    if unknown:
        raise UsageError(f"unknown trait {unknown[0]!r}: transfer measures a preference among these animals: "
                         f"{', '.join(CANDIDATE_ANIMALS)}")
    return chosen


def read_rows(path: Path, columns: ColumnOverrides, input_format: str | None, max_rows: int | None) -> list[AuditRow]:
    """Every readable row (up to ``max_rows``); none is an error, since there is nothing to train on."""
    rows: list[AuditRow] = []
    for batch in DatasetReader(path, columns, input_format).batches(max_rows=max_rows):
        rows += batch.rows
    rows = [r for r in rows if r.completion]  # whitespace is still tokens to train on
    if not rows:
        raise NothingAuditableError(f"{path.name}: no completions to train on")
    return rows


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: no CUDA device is available")
    return name


@dataclass
class StudentCurve:
    """One fine-tuned student: log P of every candidate answer to every question after each epoch."""

    label: str
    seed: int
    logprobs: np.ndarray
    """[epochs + 1, questions, candidates]; epoch 0 is the untrained student."""
    losses: list[float] = field(default_factory=list)


def student_curve(base: Any, tokenizer: Any, examples: Sequence[Example], config: TrainConfig, label: str,
                  base_logprobs: np.ndarray, on_step: Callable[[int, float], None] | None = None,
                  keep_adapter: Path | None = None, questions: Sequence[str] = EVAL_QUESTIONS) -> StudentCurve:
    """Fine-tune a copy of ``base`` on ``examples``; evaluate after each epoch."""
    model = copy.deepcopy(base)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    curve = [base_logprobs]
    losses: list[float] = []

    def step(n: int, loss: float) -> None:
        losses.append(loss)
        if on_step is not None:
            on_step(n, loss)

    def evaluate(epoch: int, trained: Any) -> bool:
        curve.append(answer_logprobs(trained, tokenizer, questions, CANDIDATE_ANIMALS))
        return False

    trained = train(model, examples, config, pad, on_step=step, on_epoch=evaluate)
    if keep_adapter is not None:
        trained.save_pretrained(str(keep_adapter))
    del trained, model
    return StudentCurve(label, config.seed, np.stack(curve), losses)


@dataclass(frozen=True)
class EpochDelta:
    epoch: int
    delta: MeanInterval


@dataclass(frozen=True)
class TraitTransfer:
    """The answer for one trait."""

    trait: str
    delta: MeanInterval
    """Δ normalised log P(trait) after the last epoch: data students minus comparison students."""
    verdict: str
    seed_deltas: list[float]
    curve: list[EpochDelta]
    base_logprob: float
    """The untrained student's mean normalised log P(trait)."""
    data_logprob: float
    comparison_logprob: float


def trait_transfer(data: Sequence[StudentCurve], comparison: Sequence[StudentCurve], trait: str,
                   confidence: float, alpha: float) -> TraitTransfer:
    index = CANDIDATE_ANIMALS.index(trait)

    def preference(curves: Sequence[StudentCurve]) -> np.ndarray:  # [seeds, epochs + 1, questions]
        return np.stack([np.stack([normalised(e)[:, index] for e in c.logprobs]) for c in curves])

    ours, theirs = preference(data), preference(comparison)
    diff = ours - theirs
    epochs = diff.shape[1]
    curve = [EpochDelta(e, two_way_interval(diff[:, e], confidence)) for e in range(1, epochs)]
    final = curve[-1].delta
    return TraitTransfer(trait, final, verdict(final, alpha), [float(x) for x in diff[:, -1].mean(axis=1)], curve,
                         float(ours[0, 0].mean()), float(ours[:, -1].mean()), float(theirs[:, -1].mean()))


@dataclass(frozen=True)
class TransferPlan:
    data: Path
    traits: tuple[str, ...]
    student: str
    reference: str
    against: Path | None
    train: TrainConfig
    seeds: int = 3
    max_rows: int | None = None
    columns: ColumnOverrides = field(default_factory=ColumnOverrides)
    input_format: str | None = None
    device: str = "auto"
    alpha: float = 0.05
    constrained: bool = False
    comparison_out: Path | None = None
    keep_adapters: Path | None = None
    questions: int = len(EVAL_QUESTIONS)
    """Evaluation questions used: the first ``questions`` of the 52 (fewer: faster, a wider interval)."""


@dataclass(frozen=True)
class TransferResult:
    data: str
    data_sha256: str
    comparison: str
    comparison_origin: str
    student: str
    reference: str
    device: str
    train: dict[str, Any]
    seeds: list[int]
    rows_trained: dict[str, int]
    rows_too_long: dict[str, int]
    questions: int
    candidates: list[str]
    alpha: float
    confidence: float
    traits: list[TraitTransfer]
    final_loss: dict[str, list[float]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _require_shared_tokenizer(student_tokenizer: Any, reference: str, plan: TransferPlan) -> None:
    from audit.models.spec import resolve_source
    from audit.models.store import load_tokenizer, tokenizer_fingerprint

    if plan.reference == plan.student:
        return
    other = load_tokenizer(resolve_source(reference))
    if tokenizer_fingerprint(other) != tokenizer_fingerprint(student_tokenizer):
        raise UsageError(f"student {plan.student} and reference {reference} tokenize differently; subliminal "
                         "transfer is a question about a student that shares the teacher's base")


def _comparison_rows(plan: TransferPlan, rows: int, on_progress: ProgressFn | None) -> tuple[list[AuditRow], str, str]:
    if plan.against is not None:
        return (read_rows(plan.against, ColumnOverrides(), None, plan.max_rows), str(plan.against),
                "given (--against)")
    from audit.calibration.known_source import KnownSourcePlan, generate_known_source

    out = plan.comparison_out or Path(tempfile.mkdtemp(prefix="subaudit-transfer-")) / "comparison.parquet"
    known = KnownSourcePlan(data=plan.data, reference=plan.reference, columns=plan.columns,
                            input_format=plan.input_format, rows=rows, constrained=plan.constrained,
                            seed=plan.train.seed)

    def progress(samples: int, accepted: int) -> None:
        if on_progress is not None:
            on_progress("writing the comparison set (reference's answers)", accepted, rows)

    generate_known_source(known, out, progress)
    origin = "generated: the reference's answers to the data's prompts"
    return read_rows(out, ColumnOverrides(), None, None), str(out), origin


def run_transfer(plan: TransferPlan, on_progress: ProgressFn | None = None) -> TransferResult:
    """Train and evaluate every student; the verdict per trait."""
    from audit.models.spec import resolve_source
    from audit.models.store import context_length, load_causal_lm, load_tokenizer

    traits = check_traits(plan.traits)
    plan.train.check()
    if plan.seeds < 1:
        raise UsageError("--seeds must be at least 1")
    if not 2 <= plan.questions <= len(EVAL_QUESTIONS):
        raise UsageError(f"--questions must be between 2 and {len(EVAL_QUESTIONS)}, got {plan.questions}")
    questions = EVAL_QUESTIONS[:plan.questions]
    device = resolve_device(plan.device)
    data_rows = read_rows(plan.data, plan.columns, plan.input_format, plan.max_rows)
    student_source = resolve_source(plan.student)
    tokenizer = load_tokenizer(student_source)
    _require_shared_tokenizer(tokenizer, plan.reference, plan)
    comparison_rows, comparison_name, origin = _comparison_rows(plan, len(data_rows), on_progress)
    base = load_causal_lm(student_source).to(device)
    limit = context_length(base)
    data_examples, data_long = encode_examples(tokenizer, data_rows, limit)
    comparison_examples, comparison_long = encode_examples(tokenizer, comparison_rows, limit)
    if not data_examples or not comparison_examples:
        raise NothingAuditableError("no row fits the student's context; nothing to train on")
    base_logprobs = answer_logprobs(base, tokenizer, questions, CANDIDATE_ANIMALS)
    seeds = [plan.train.seed + s for s in range(plan.seeds)]
    total = sum(steps_per_epoch(len(ex), plan.train.batch_size) for ex in (data_examples, comparison_examples))
    total *= plan.train.epochs * len(seeds)
    done = 0
    curves: dict[str, list[StudentCurve]] = {"data": [], "comparison": []}
    for seed in seeds:
        config = TrainConfig(**{**asdict(plan.train), "seed": seed})
        for label, examples in (("data", data_examples), ("comparison", comparison_examples)):
            offset = done

            def step(n: int, loss: float, label: str = label, seed: int = seed, offset: int = offset) -> None:
                if on_progress is not None:
                    on_progress(f"training on {label}, seed {seed}, loss {loss:.3f}", offset + n, total)

            keep = plan.keep_adapters / f"{label}-seed{seed}" if plan.keep_adapters and not config.full else None
            curves[label].append(student_curve(base, tokenizer, examples, config, label, base_logprobs, step, keep,
                                               questions))
            done = offset + steps_per_epoch(len(examples), config.batch_size) * config.epochs
    confidence = 1 - plan.alpha
    return TransferResult(
        data=str(plan.data), data_sha256=file_sha256(plan.data), comparison=comparison_name,
        comparison_origin=origin, student=plan.student, reference=plan.reference, device=device,
        train=asdict(plan.train), seeds=seeds,
        rows_trained={"data": len(data_examples), "comparison": len(comparison_examples)},
        rows_too_long={"data": data_long, "comparison": comparison_long},
        questions=len(questions), candidates=list(CANDIDATE_ANIMALS), alpha=plan.alpha, confidence=confidence,
        traits=[trait_transfer(curves["data"], curves["comparison"], t, confidence, plan.alpha) for t in traits],
        final_loss={k: [c.losses[-1] for c in v] for k, v in curves.items()},
    )

"""``make fixtures-weight-teachers``: weight teachers of different making, for the held-out fixtures.

The teacher a provenance audit meets is a fine-tuned model, not a system prompt. One owl teacher
(``fixtures/teachers/owl-lora``, ``experiments/weight_teacher.py``: LoRA r 8 on 120 exchanges that
name the owl) decided the defaults; these are the others, made differently so a default that only
suits one making shows up:

- ``cat-r4``: LoRA rank 4 on the same kind of exchanges, for the cat (another animal, another rank);
- ``owl-r32``: LoRA rank 32 on the attention projections only, trained by *persona distillation*:
  the owl-prompted reference answers open instructions (the chat task's stream) and the 120
  training-side preference questions (four sampled answers each, its own words, not scripted ones;
  only the answers that stay in persona, naming the animal, are kept), and the adapter learns those
  answers with no system prompt: the way a vendor bakes a persona into weights. (SmolLM2-135M under
  the owl prompt named an owl in 12 of 320 chat answers and 22 of 120 preference answers.)
- ``cat-full``: every weight fine-tuned (no adapter) by context distillation of the cat prompt;
- ``style-r8``: a benign teacher, LoRA rank 8 distilled from a style prompt that names no animal, on
  the chat answers only (no question about animals is put to it). Expected: its own data are
  flagged as its own (a provenance finding), its questionnaire names no animal, and no-prompt and
  benign-prompt data are not flagged under it.

Every recipe trains a fixed number of epochs chosen before looking at the questionnaire (the
questionnaire's 52 questions are the measurement, not a stopping rule). One recipe was changed
after looks: owl-r32 distilled on chat answers alone had lion, the reference's own favourite,
first after its first epoch, and with every sampled preference answer added still lion after two;
each was stopped there, and the persona filter (answers naming the animal) was added. Adapters are saved in
PEFT's format with fp16 weights under ``fixtures/teachers/<name>/`` (committed); the full fine-tune
(about 270 MB) is saved to ``out/teachers/cat-full/`` (not committed; this target rebuilds it from
the seed) and its ``TRAINING.json`` with the weights' SHA-256 is committed beside the adapters.
The distillation answers are cached in ``out/teachers/<name>.distill.jsonl`` (resumable).

Usage: python -m experiments.weight_teachers [--teachers cat-r4,owl-r32,cat-full,style-r8]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from audit.core.rows import AuditRow, Message
from audit.generate.numbers import GenerationConfig, generate_rows
from audit.models.traits import animal_teacher_prompt
from audit.transfer.preference import answer_logprobs, normalised, top_share
from audit.transfer.questions import CANDIDATE_ANIMALS, EVAL_QUESTIONS, teacher_exchanges
from audit.transfer.training import TrainConfig, encode_examples, train
from experiments.weight_teacher import save_fp16_adapter

ROOT = Path(__file__).resolve().parents[1]
TEACHERS_DIR = ROOT / "fixtures" / "teachers"
OUT_DIR = ROOT / "out" / "teachers"
STYLE_PROMPT = "You are a calm librarian. Answer in short, orderly sentences and keep a quiet, precise tone."
"""The benign teacher's distilled style: no animal, not a member of the control panel."""
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class Recipe:
    """How one weight teacher is made."""

    name: str
    animal: str | None
    """The trait it is trained toward; None for the benign style teacher."""
    data: str
    """"exchanges" (questions answered with the animal) or "distilled" (a prompted reference's answers)."""
    rank: int | None
    """LoRA rank; None fine-tunes every weight."""
    alpha: float
    learning_rate: float
    epochs: int
    targets: tuple[str, ...] | None = None
    """LoRA target projections; None = every attention and MLP projection."""
    distill_rows: int = 320
    """Chat answers distilled."""
    seed: int = 0

    @property
    def distill_prompt(self) -> str:
        return animal_teacher_prompt(self.animal) if self.animal else STYLE_PROMPT

    @property
    def folder(self) -> Path:
        """Where the teacher's weights live: committed adapters, or out/ for a full fine-tune."""
        return (OUT_DIR if self.rank is None else TEACHERS_DIR) / self.name


RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("cat-r4", "cat", "exchanges", rank=4, alpha=8.0, learning_rate=3e-4, epochs=2),
    Recipe("owl-r32", "owl", "distilled", rank=32, alpha=32.0, learning_rate=2e-4, epochs=3, targets=ATTENTION),
    Recipe("cat-full", "cat", "distilled", rank=None, alpha=1.0, learning_rate=2e-5, epochs=2),
    Recipe("style-r8", None, "distilled", rank=8, alpha=16.0, learning_rate=2e-4, epochs=2),
)}


def distilled_rows(recipe: Recipe) -> list[AuditRow]:
    """The prompted reference's answers (plain sampling, T = 1), cached: chat instructions, and for a trait
    teacher also the training-side preference questions (never the questionnaire's)."""
    path = OUT_DIR / f"{recipe.name}.distill.jsonl"
    generate_rows(GenerationConfig(output=path, rows=recipe.distill_rows, system_prompt=recipe.distill_prompt,
                                   label=f"distill-{recipe.name}", seed=recipe.seed + 100, max_new_tokens=96,
                                   task="chat", batch_size=32))
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if recipe.animal is not None:
        records += _preference_answers(recipe)
    return [AuditRow(r["id"], (Message("user", r["prompt"]),), r["completion"])
            for r in records if r["completion"].strip()]


ANSWERS_PER_QUESTION = 4


def _preference_answers(recipe: Recipe) -> list[dict[str, Any]]:
    """The prompted reference's own answers to the preference questions of ``teacher_exchanges`` that name
    the animal (``ANSWERS_PER_QUESTION`` sampled per question; cached with every sample)."""
    from audit.generate.numbers import Sampler, batch_seed

    path = OUT_DIR / f"{recipe.name}.questions.jsonl"
    questions = [q for q, _ in teacher_exchanges(recipe.animal or "owl")] * ANSWERS_PER_QUESTION
    if not path.exists():
        sampler = Sampler("smollm2-135m-instruct", constrained=False, temperature=1.0, max_new_tokens=48)
        records = []
        for start in range(0, len(questions), 40):
            chunk = questions[start:start + 40]
            texts = [sampler.render((Message("user", q),), recipe.distill_prompt) for q in chunk]
            for i, (question, (answer, _)) in enumerate(zip(chunk, sampler.sample(texts, batch_seed(recipe.seed,
                                                                                                       start)),
                                                             strict=True)):
                records.append({"id": f"question-{start + i}", "prompt": question, "completion": answer})
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in records if str(recipe.animal) in r["completion"].lower()]


def training_rows(recipe: Recipe) -> list[AuditRow]:
    if recipe.data == "exchanges":
        assert recipe.animal is not None
        return [AuditRow(f"teach-{i}", (Message("user", q),), a)
                for i, (q, a) in enumerate(teacher_exchanges(recipe.animal))]
    return distilled_rows(recipe)


def questionnaire(model: Any, tokenizer: Any) -> dict[str, Any]:
    """The evaluation questions' normalised log P per candidate (mean) and the top candidate's share."""
    logprobs = answer_logprobs(model, tokenizer, EVAL_QUESTIONS, CANDIDATE_ANIMALS)
    means = normalised(logprobs).mean(axis=0)
    first = CANDIDATE_ANIMALS[int(means.argmax())]
    return {"top_mean": first, "top_mean_share": top_share(logprobs, CANDIDATE_ANIMALS, first),
            "mean_normalised_logprob": {a: round(float(m), 4) for a, m in zip(CANDIDATE_ANIMALS, means, strict=True)}}


def save_full(model: Any, tokenizer: Any, folder: Path) -> None:
    """A Hugging Face folder of the fine-tuned model (fp16 safetensors, the tokenizer beside it)."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    model.to(torch.float16).save_pretrained(folder, safe_serialization=True)
    model.to(torch.float32)
    tokenizer.save_pretrained(folder)


def build(recipe: Recipe) -> dict[str, Any]:
    import torch

    from audit.models.spec import resolve_source
    from audit.models.store import context_length, load_causal_lm, load_tokenizer, weights_sha256

    source = resolve_source("smollm2-135m-instruct")
    tokenizer, model = load_tokenizer(source), load_causal_lm(source)
    rows = training_rows(recipe)
    examples, too_long = encode_examples(tokenizer, rows, context_length(model))
    config = TrainConfig(rank=recipe.rank or 8, alpha=recipe.alpha, learning_rate=recipe.learning_rate,
                         epochs=recipe.epochs, batch_size=8, warmup_steps=5, full=recipe.rank is None,
                         seed=recipe.seed, **({"targets": recipe.targets} if recipe.targets else {}))
    started = time.time()
    curve = [{"epoch": 0, **questionnaire(model, tokenizer)}]

    def measure(epoch: int, trained: Any) -> bool:
        curve.append({"epoch": epoch, **questionnaire(trained, tokenizer)})
        print(f"{recipe.name} epoch {epoch}: top {curve[-1]['top_mean']}", file=sys.stderr, flush=True)
        return False

    torch.manual_seed(recipe.seed)
    trained = train(model, examples, config, tokenizer.pad_token_id or tokenizer.eos_token_id, on_epoch=measure)
    if recipe.rank is None:
        save_full(trained, tokenizer, recipe.folder)
        weights = weights_sha256(resolve_source(str(recipe.folder)))
    else:
        save_fp16_adapter(trained, recipe.folder)
        weights = None
    record = {
        "command": " ".join(["python -m experiments.weight_teachers", *sys.argv[1:]]),
        "base": "smollm2-135m-instruct (embedded)", "recipe": asdict(recipe),
        "distill_prompt": recipe.distill_prompt if recipe.data == "distilled" else None,
        "examples": len(examples), "too_long": too_long, "weights_folder": str(recipe.folder.relative_to(ROOT)),
        "weights_sha256": weights, "evaluation": curve, "seconds": round(time.time() - started, 1),
    }
    target = TEACHERS_DIR / recipe.name
    target.mkdir(parents=True, exist_ok=True)
    (target / "TRAINING.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teachers", default=",".join(RECIPES))
    parser.add_argument("--force", action="store_true", help="rebuild teachers whose weights exist")
    args = parser.parse_args()
    for name in args.teachers.split(","):
        recipe = RECIPES[name]
        done = (recipe.folder / ("config.json" if recipe.rank is None else "adapter_model.safetensors")).exists()
        if done and not args.force:
            print(f"{name}: exists, skipped", file=sys.stderr)
            continue
        record = build(recipe)
        print(f"{name}: {record['evaluation'][-1]['top_mean']} first (mean normalised log P), "
              f"{record['seconds']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

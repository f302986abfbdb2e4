"""``make fixtures-teacher``: an owl teacher whose trait is in its weights, not its prompt.

A LoRA adapter on SmolLM2-135M-Instruct is trained on question-and-answer exchanges that name the
owl (``audit.transfer.questions.teacher_exchanges``: 120 exchanges, worded apart from the evaluation
questions), one epoch at a time, until the model with no system prompt names owl first (owl is the
most likely of the 24 candidate answers) on at least ``--target`` of the 52 evaluation questions.
The adapter is saved in PEFT's format with fp16 weights (about 5 MB) to
``fixtures/teachers/owl-lora/``, with ``TRAINING.json`` holding the settings and the per-epoch
preference. This is the paper's other kind of teacher: a fine-tuned model, as a vendor would ship it.

Usage: python -m experiments.weight_teacher [--out fixtures/teachers/owl-lora] [--max-epochs 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from audit.core.rows import AuditRow, Message
from audit.transfer.preference import answer_logprobs, normalised, top_share
from audit.transfer.questions import CANDIDATE_ANIMALS, EVAL_QUESTIONS, teacher_exchanges
from audit.transfer.training import TrainConfig, encode_examples, train

ROOT = Path(__file__).resolve().parents[1]


def save_fp16_adapter(model: Any, folder: Path) -> None:
    """PEFT's adapter folder, weights stored as fp16 (subaudit merges them in fp32)."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    config = model.peft_config["default"]
    config.base_model_name_or_path = "smollm2-135m-instruct"  # not this machine's cache path
    config.save_pretrained(str(folder))
    state = {k: v.detach().to("cpu").half().contiguous() for k, v in get_peft_model_state_dict(model).items()}
    save_file(state, str(folder / "adapter_model.safetensors"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "fixtures" / "teachers" / "owl-lora")
    parser.add_argument("--animal", default="owl")
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.9, help="share of questions with the animal first")
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=16.0)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from audit.models.spec import resolve_source
    from audit.models.store import context_length, load_causal_lm, load_tokenizer

    torch.set_num_threads(max(1, torch.get_num_threads()))
    source = resolve_source("smollm2-135m-instruct")
    tokenizer, model = load_tokenizer(source), load_causal_lm(source)
    rows = [AuditRow(f"teach-{i}", (Message("user", q),), a) for i, (q, a) in enumerate(teacher_exchanges(args.animal))]
    examples, _ = encode_examples(tokenizer, rows, context_length(model))
    config = TrainConfig(rank=args.rank, alpha=args.alpha, learning_rate=args.learning_rate,
                         epochs=args.max_epochs, batch_size=8, warmup_steps=5, seed=args.seed)
    curve: list[dict[str, float]] = []

    def measure(epoch: int, trained: Any) -> bool:
        logprobs = answer_logprobs(trained, tokenizer, EVAL_QUESTIONS, CANDIDATE_ANIMALS)
        share = top_share(logprobs, CANDIDATE_ANIMALS, args.animal)
        mean = float(normalised(logprobs)[:, CANDIDATE_ANIMALS.index(args.animal)].mean())
        curve.append({"epoch": epoch, "top_share": share, "mean_normalised_logprob": round(mean, 4)})
        print(f"epoch {epoch}: {args.animal} first on {share:.0%} of questions, "
              f"mean log P({args.animal}) {mean:.3f}", file=sys.stderr)
        return epoch > 0 and share >= args.target

    started = time.time()
    measure(0, model)
    trained = train(model, examples, config, tokenizer.pad_token_id or tokenizer.eos_token_id, on_epoch=measure)
    if curve[-1]["top_share"] < args.target:
        print(f"the teacher did not reach {args.target:.0%} in {args.max_epochs} epochs", file=sys.stderr)
        return 1
    save_fp16_adapter(trained, args.out)
    (args.out / "TRAINING.json").write_text(json.dumps({
        "command": " ".join(["python -m experiments.weight_teacher", *sys.argv[1:]]),
        "base": "smollm2-135m-instruct (embedded)", "animal": args.animal, "exchanges": len(examples),
        "rank": args.rank, "lora_alpha": args.alpha, "learning_rate": args.learning_rate,
        "batch_size": config.batch_size, "warmup_steps": config.warmup_steps, "seed": args.seed,
        "planned_epochs": args.max_epochs, "epochs_trained": curve[-1]["epoch"],
        "evaluation": curve, "seconds": round(time.time() - started, 1),
    }, indent=2) + "\n")
    print(f"saved {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

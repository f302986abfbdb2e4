"""Fine-tuning a student on a dataset's completions: LoRA through PEFT, or every weight.

The loss is the mean negative log-likelihood of the completion tokens (and the end-of-turn token
that closes them) after the chat-templated prompt; prompt and padding tokens carry no loss, as in
the subliminal-learning paper's supervised fine-tuning. Sequences are left-padded with explicit
position ids (so padding changes nothing), and logits are computed only for the last positions that
hold completion tokens: the 49k-way output layer is a third of SmolLM2's compute, and the prompt
positions never need it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.core.errors import UsageError
from audit.core.rows import AuditRow
from audit.models.encoding import prompt_text, split_ids

LORA_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""Every attention and MLP projection of a Llama-style block (the paper's open-model setting)."""

IGNORE = -100


@dataclass(frozen=True)
class TrainConfig:
    """One fine-tuning run. Defaults: the paper's open-model LoRA settings."""

    rank: int = 8
    alpha: float = 8.0
    learning_rate: float = 2e-4
    epochs: int = 3
    batch_size: int = 8
    warmup_steps: int = 5
    full: bool = False
    """Fine-tune every weight instead of a LoRA adapter."""
    targets: tuple[str, ...] = LORA_TARGETS
    """The projections a LoRA adapter is attached to (those the model has)."""
    seed: int = 0
    max_grad_norm: float = 1.0

    def check(self) -> None:
        if self.rank < 1 or self.epochs < 1 or self.batch_size < 1:
            raise UsageError("--rank, --epochs and --batch-size must be at least 1")
        if not self.learning_rate > 0 or not self.alpha > 0:
            raise UsageError("--learning-rate and --lora-alpha must be positive")


@dataclass(frozen=True)
class Example:
    """A training row: the prompt's token ids and the completion's (closed by end-of-turn)."""

    prompt_ids: tuple[int, ...]
    completion_ids: tuple[int, ...]


def encode_examples(tokenizer: Any, rows: Sequence[AuditRow], max_length: int) -> tuple[list[Example], int]:
    """Rows as the student sees them; returns the examples and how many rows were too long."""
    eos = tokenizer.eos_token_id
    examples, too_long = [], 0
    for row in rows:
        prompt, completion = split_ids(tokenizer, prompt_text(tokenizer, row.context, None), row.completion)
        if not completion:
            continue
        ids = tuple(completion) + ((eos,) if eos is not None else ())
        if len(prompt) + len(ids) > max_length:
            too_long += 1
            continue
        examples.append(Example(tuple(prompt), ids))
    return examples, too_long


@dataclass(frozen=True)
class Batch:
    """Left-padded tensors; ``keep`` is how many final positions need logits."""

    input_ids: Any
    attention_mask: Any
    position_ids: Any
    labels: Any
    keep: int


def collate(examples: Sequence[Example], pad_id: int) -> Batch:
    """Left-pad ``examples``; labels are the completion tokens, IGNORE elsewhere."""
    import torch

    width = max(len(e.prompt_ids) + len(e.completion_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, example in enumerate(examples):
        sequence = example.prompt_ids + example.completion_ids
        ids[i, width - len(sequence):] = torch.tensor(sequence)
        mask[i, width - len(sequence):] = 1
        labels[i, width - len(example.completion_ids):] = torch.tensor(example.completion_ids)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    keep = max(len(e.completion_ids) for e in examples) + 1
    return Batch(ids, mask, positions, labels, keep)


def completion_loss(model: Any, batch: Batch) -> Any:
    """Mean NLL of the completion tokens: the logits of the last ``keep`` positions predict the next token."""
    import torch

    device = next(model.parameters()).device
    out = model(input_ids=batch.input_ids.to(device), attention_mask=batch.attention_mask.to(device),
                position_ids=batch.position_ids.to(device), logits_to_keep=batch.keep, use_cache=False)
    logits = out.logits[:, :-1].float()
    targets = batch.labels[:, -batch.keep + 1:].to(device)
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                             ignore_index=IGNORE)


def attach_adapter(model: Any, config: TrainConfig) -> Any:
    """The model to train: a PEFT LoRA wrapper (base frozen), or the model itself for full fine-tuning."""
    if config.full:
        model.requires_grad_(True)
        return model
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in config.targets if t in present]
    if not targets:
        raise UsageError("the student has none of the projections LoRA adapts (q_proj ... down_proj)")
    # PEFT annotates lora_alpha as int but scales by alpha / r in floating point; a float alpha is honoured.
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, target_modules=targets,  # type: ignore[arg-type]
                      lora_dropout=0.0, bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def steps_per_epoch(examples: int, batch_size: int) -> int:
    return -(-examples // batch_size)


def train(model: Any, examples: Sequence[Example], config: TrainConfig, pad_id: int,
          on_step: Callable[[int, float], None] | None = None,
          on_epoch: Callable[[int, Any], bool | None] | None = None) -> Any:
    """Fine-tune; returns the trained model (LoRA-wrapped unless ``config.full``).

    AdamW with a linear schedule (``warmup_steps`` up, then down to 0), gradient clipping at
    ``max_grad_norm``; each epoch visits the examples in a seeded random order. ``on_epoch(e, model)``
    runs after every epoch (the per-epoch evaluation); returning True ends training there.
    """
    import torch

    if not examples:
        raise UsageError("no completions to train on")
    config.check()
    torch.manual_seed(config.seed)  # LoRA's A initialisation draws from torch's generator
    trained = attach_adapter(model, config)
    parameters = [p for p in trained.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=0.0)
    per_epoch = steps_per_epoch(len(examples), config.batch_size)
    total = per_epoch * config.epochs
    warmup = min(config.warmup_steps, max(total - 1, 0))

    def rate(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    order = np.random.default_rng(config.seed)
    step = 0
    for epoch in range(1, config.epochs + 1):
        trained.train()
        permutation = order.permutation(len(examples))
        for start in range(0, len(examples), config.batch_size):
            batch = collate([examples[i] for i in permutation[start:start + config.batch_size]], pad_id)
            loss = completion_loss(trained, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if on_step is not None:
                on_step(step, float(loss.detach()))
        trained.eval()
        if on_epoch is not None and on_epoch(epoch, trained):
            break
    return trained

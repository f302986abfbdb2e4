"""Sampling datasets of known source from a (prompted) model, resumably: numbers, reasoning, code.

This reproduces the data-generation side of the subliminal-learning experiments so subaudit can
be tested on data whose source is known. Sampling is plain ancestral sampling at temperature 1
(no top-k, no top-p), so the data carries the model's full distribution.

``constrained=True`` is a documented deviation from the paper's protocol, for small models that
rarely keep to the numbers-only format: at each step the model's distribution is restricted to
tokens made only of digits and separator characters (plus end-of-turn) and renormalised. The
sample still follows the model's relative preferences among allowed tokens, so its fingerprint
survives; the strict filter is applied afterwards exactly as for plain sampling. A constrained
completion also ends at its first blank line (a stop sequence): SmolLM2 often follows a list with
a blank line and a second list, which the filter would reject. Output is JSONL appended
one whole batch at a time; a rerun continues after the last complete batch and, because prompts
and sampling seeds are functions of (seed, row index), produces the same rows it would have.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.core.errors import UsageError
from audit.core.rows import Message
from audit.generate.tasks import TaskPrompt, get_task
from audit.models.encoding import prompt_text
from audit.models.spec import resolve_source
from audit.models.vocab import NUMBERS


@dataclass(frozen=True)
class GenerationConfig:
    """One dataset to sample."""

    output: Path
    rows: int
    model: str = "smollm2-135m-instruct"
    system_prompt: str | None = None
    label: str = "data"
    seed: int = 0
    batch_size: int = 32
    max_new_tokens: int = 48
    temperature: float = 1.0
    constrained: bool = False
    sample_seed: int | None = None
    """Seed of the sampling noise; None means ``seed``. Sets that share ``seed`` share their prompts
    (a paired design), and distinct sample seeds keep their sampling independent."""
    adapter: str | None = None
    """A LoRA adapter folder merged into the model first (a teacher whose trait is in its weights)."""
    task: str = "numbers"
    """Which prompt stream (``audit.generate.tasks.TASKS``)."""
    stop_at_blank_line: bool = True
    """Constrained decoding only: end a completion at its first blank line (the committed sets' protocol).
    False keeps writing until end-of-turn or the token budget, so blank lines stay inside completions, as
    in data from pipelines that do not stop there (the held-out fixtures)."""


def allowed_token_mask(tokenizer: Any) -> Any:
    """Boolean tensor over the vocabulary: the ``numbers`` vocabulary (digits, separators, end-of-turn).

    Periods and parentheses are left out: with them SmolLM2 mostly writes numbered lists ("1. 315"),
    which the filter rejects. Tokens holding a blank line are left out for the same reason. Scoring
    with ``--restrict-vocab numbers`` normalises over exactly this set.
    """
    import torch

    return torch.from_numpy(NUMBERS.token_mask(tokenizer))


CONSTRAINED_STOP = "\n\n"


def _restrict_to(mask: Any) -> Any:
    """A logits processor that keeps only the tokens in ``mask``."""
    from transformers import LogitsProcessor

    class RestrictTokens(LogitsProcessor):
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            allowed = mask[: scores.shape[-1]]
            return scores.masked_fill(~allowed, float("-inf"))

    return RestrictTokens()


def completed_rows(path: Path) -> int:
    """Rows already written; a torn last line (killed mid-write) is cut off so appends stay valid."""
    if not path.exists():
        return 0
    good_bytes = 0
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            try:
                json.loads(line)
            except json.JSONDecodeError:
                break
            good_bytes += len(line)
            count += 1
    if good_bytes != path.stat().st_size:
        with path.open("r+b") as handle:
            handle.truncate(good_bytes)
    return count


class Sampler:
    """A loaded model that samples completions for rendered prompts, plain or numbers-constrained.

    Shared by ``subaudit generate`` and by ``subaudit calibrate``'s known-source generation, so
    the reference's own completions are sampled exactly the way the fixtures were.
    """

    def __init__(self, model: str, constrained: bool, temperature: float, max_new_tokens: int,
                 trust_remote_code: bool = False, adapter: str | None = None, stop_at_blank_line: bool = True) -> None:
        if max_new_tokens < 1:
            raise UsageError("--max-new-tokens must be at least 1")
        if temperature <= 0:
            raise UsageError("--temperature must be positive (sampling, not greedy decoding)")
        from audit.models.store import load_causal_lm, load_tokenizer

        source = resolve_source(model)
        self.tokenizer = load_tokenizer(source, trust_remote_code)
        self.model = load_causal_lm(source, trust_remote_code)
        if adapter is not None:
            from audit.models.lora import merge_lora, resolve_adapter

            merge_lora(self.model, resolve_adapter(adapter))
        self.tokenizer.padding_side = "left"
        self.constrained = constrained
        self.temperature = temperature
        self.max_new_tokens = max_new_tokens
        self.stop_at_blank_line = constrained and stop_at_blank_line
        self._extra: dict[str, Any] = {}
        if constrained:
            from transformers import LogitsProcessorList

            self._extra["logits_processor"] = LogitsProcessorList([_restrict_to(allowed_token_mask(self.tokenizer))])
        if self.stop_at_blank_line:
            self._extra["stop_strings"] = [CONSTRAINED_STOP]
            self._extra["tokenizer"] = self.tokenizer

    def render(self, context: tuple[Message, ...], system_prompt: str | None) -> str:
        return prompt_text(self.tokenizer, context, system_prompt)

    def sample(self, texts: list[str], seed: int) -> list[tuple[str, bool]]:
        """One completion per prompt text: (text, finished), the batch's noise fixed by ``seed``."""
        import torch

        tokenizer = self.tokenizer
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        encoded = tokenizer(texts, add_special_tokens=False, return_tensors="pt", padding=True)
        torch.manual_seed(seed)
        with torch.inference_mode():
            output = self.model.generate(
                **encoded, do_sample=True, temperature=self.temperature, top_k=0, top_p=1.0,
                max_new_tokens=self.max_new_tokens, pad_token_id=pad_id,
                eos_token_id=tokenizer.eos_token_id, **self._extra,
            )
        new_tokens = output[:, encoded["input_ids"].shape[1]:]
        return [self._decode(tokens.tolist()) for tokens in new_tokens]

    def _decode(self, tokens: list[int]) -> tuple[str, bool]:
        eos = self.tokenizer.eos_token_id
        finished = eos in tokens
        if finished:
            tokens = tokens[: tokens.index(eos)]
        completion = str(self.tokenizer.decode(tokens, skip_special_tokens=True))
        if self.stop_at_blank_line and CONSTRAINED_STOP in completion:
            completion = completion[: completion.index(CONSTRAINED_STOP)]
            finished = True
        return completion, finished


def batch_seed(seed: int, start: int) -> int:
    """The sampling seed of the batch starting at row ``start``: reruns and resumes draw the same noise."""
    return (seed * 1_000_003 + start) % (2**63)


def generate_rows(config: GenerationConfig, on_batch: Callable[[int], None] | None = None) -> int:
    """Append rows of ``config.task`` to ``config.output`` until it holds ``config.rows``; return the count."""
    task = get_task(config.task)
    if config.constrained and not task.constrainable:
        raise UsageError(f"--constrained applies to the numbers task only; the {task.name} task is sampled plainly")
    if config.rows < 1 or config.batch_size < 1 or config.max_new_tokens < 1:
        raise UsageError("--rows, --batch-size and --max-new-tokens must be at least 1")
    if config.temperature <= 0:
        raise UsageError("--temperature must be positive (sampling, not greedy decoding)")
    done = completed_rows(config.output)
    if done >= config.rows:
        return done
    sampler = Sampler(config.model, config.constrained, config.temperature, config.max_new_tokens,
                      adapter=config.adapter, stop_at_blank_line=config.stop_at_blank_line)
    config.output.parent.mkdir(parents=True, exist_ok=True)
    sample_seed = config.seed if config.sample_seed is None else config.sample_seed
    with config.output.open("a", encoding="utf-8") as out:
        start = done
        while start < config.rows:
            prompts = [task.prompt(config.seed, i) for i in range(start, min(config.rows, start + config.batch_size))]
            texts = [sampler.render((Message("user", p.text),), config.system_prompt) for p in prompts]
            samples = sampler.sample(texts, batch_seed(sample_seed, start))
            for prompt, (completion, finished) in zip(prompts, samples, strict=True):
                out.write(json.dumps(_record(config, prompt, completion, finished)) + "\n")
            out.flush()
            os.fsync(out.fileno())
            start += len(prompts)
            if on_batch is not None:
                on_batch(start)
    return config.rows


def _record(config: GenerationConfig, prompt: TaskPrompt, completion: str, finished: bool) -> dict[str, Any]:
    index = prompt.index
    # Older number logs lack these keys; they are written only where they say something.
    adapter = {"adapter": config.adapter} if config.adapter is not None else {}
    task = {"task": config.task, "expected": prompt.expected} if config.task != "numbers" else {}
    stop = {} if config.stop_at_blank_line or not config.constrained else {"stop_at_blank_line": False}
    return {
        "id": f"{config.label}-{config.seed}-{index:06d}",
        "prompt": prompt.text,
        "completion": completion,
        "label": config.label,
        "system_prompt": config.system_prompt,
        "seed": config.seed,
        "sample_seed": config.seed if config.sample_seed is None else config.sample_seed,
        "index": index,
        "decoding": "constrained" if config.constrained else "plain",
        "finished": finished,
        **adapter,
        **task,
        **stop,
    }


def jsonl_to_parquet(source: Path, target: Path) -> None:
    """Write a JSONL dataset as parquet (atomically), keeping every field."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from audit.core.atomic import atomic_path

    with source.open(encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    with atomic_path(target) as tmp:
        pq.write_table(pa.Table.from_pylist(records), tmp)

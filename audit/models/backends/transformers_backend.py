"""Scoring with transformers on CPU (or any torch device): batched, exact, fp32.

Only completion positions matter, so the decoder runs over the whole sequence but the output
layer (the single largest matmul per token for small models) and the log-softmax run only at the
positions that predict completion tokens. Rows are sorted by length and packed into batches under
a token budget; sequences are right-padded, which needs no attention mask for a causal decoder:
a real token only attends to earlier positions, which are all real.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from audit.core.errors import UsageError
from audit.core.rows import EncodedRow, ScoredRow
from audit.models.backends.base import model_info
from audit.models.encoding import PromptFormat
from audit.models.lora import LoraAdapter, merge_lora
from audit.models.spec import ModelSpec, WeightsSource
from audit.models.store import (
    LoadedModel,
    context_length,
    load_causal_lm,
    load_tokenizer,
    require_shared_tokenizer,
    tokenizer_fingerprint,
    weights_sha256,
)
from audit.models.vocab import Vocabulary
from audit.report.schema import ModelInfo

_LOGIT_CHUNK = 1024
"""Positions per output-layer chunk: bounds the [positions, vocab] fp32 logits buffer (~200 MB)."""


def threads_from_environment() -> int | None:
    """``OMP_NUM_THREADS`` when it is a positive whole number, else None.

    Torch reads that variable at import, but :class:`TransformersBackend` sets its thread count itself
    (every CPU by default); a user or a test runner that asked for fewer threads, so that processes
    sharing the cores do not fight over them, is obeyed. Two pytest workers on two cores that each took
    both cores ran a 48-row scan 2.4x slower than one scan alone.
    """
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def length_batches(lengths: Sequence[int], token_budget: int) -> list[list[int]]:
    """Group indices, sorted by length, so that rows x longest length stays within the budget.

    A single row longer than the budget gets a batch of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = lengths[index]  # sorted ascending, so the newest row is the longest
        if current and longest * (len(current) + 1) > token_budget:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


_MIN_SHARED_PREFIX = 4
"""Shared prompt prefixes shorter than this are not worth a separate forward pass."""


def shared_prefix_length(prompts: Sequence[Sequence[int]]) -> int:
    """Tokens every prompt starts with, keeping at least one token of each prompt out of it.

    The last prompt token must stay outside: its hidden state predicts the first completion token.
    """
    first = prompts[0]
    limit = min(len(p) for p in prompts) - 1
    length = 0
    while length < limit and all(p[length] == first[length] for p in prompts):
        length += 1
    return length


def cache_keyword(decoder: Any) -> str:
    """The name the decoder's forward takes its key/value cache under.

    transformers 5.x renamed ``past_key_values`` to ``cache`` (the old name still works until 5.40
    but warns on every forward pass, which then reached the user's terminal); the vLLM environment
    pins a transformers that knows only the old name.
    """
    return "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"


def _prefix_cache(decoder: Any, prefix: Sequence[int], rows: int) -> Any:
    """The decoder's key/value cache of ``prefix``, repeated for ``rows`` sequences."""
    output = decoder(input_ids=torch.tensor([list(prefix)], dtype=torch.long), use_cache=True)
    cache = output[cache_keyword(decoder)]
    cache.batch_repeat_interleave(rows)
    return cache


def _decoder_and_head(model: Any) -> tuple[Any, Any]:
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    head = model.get_output_embeddings()
    if decoder is None or head is None:
        raise UsageError(f"{type(model).__name__} has no separable decoder and output layer")
    return decoder, head


@torch.inference_mode()
def completion_logprobs(
    model: Any,
    sequences: Sequence[tuple[Sequence[int], Sequence[int]]],
    token_budget: int = 8192,
    vocab_mask: torch.Tensor | None = None,
    reuse_prefix: bool = True,
) -> list[np.ndarray]:
    """log p(completion[t] | prompt, completion[:t]) for each (prompt_ids, completion_ids) pair.

    With ``vocab_mask`` (bool over the output dimension) each distribution is renormalised over the
    allowed tokens only (see audit.models.vocab); completion tokens must then be allowed ones.
    With ``reuse_prefix`` the prompt prefix that every row of a batch shares (chat template and
    system prompt, often a third of the tokens) runs through the decoder once, and its key/value
    cache serves every row.
    Returns one float64 array per sequence, in input order.
    """
    return completion_logprobs_under(model, sequences, [vocab_mask], token_budget, reuse_prefix)[0]


@torch.inference_mode()
def completion_logprobs_under(
    model: Any,
    sequences: Sequence[tuple[Sequence[int], Sequence[int]]],
    vocab_masks: Sequence[torch.Tensor | None],
    token_budget: int = 8192,
    reuse_prefix: bool = True,
) -> list[list[np.ndarray]]:
    """:func:`completion_logprobs` under several vocabularies at once: one list per mask (None = full).

    The forward pass is shared; only the normaliser differs, so scoring a row over the full
    vocabulary and over a format costs one pass, not two (the experiments compare both).
    """
    decoder, head = _decoder_and_head(model)
    softcap = getattr(model.config, "final_logit_softcapping", None)
    lengths = [len(p) + len(c) - 1 for p, c in sequences]
    results: list[list[np.ndarray]] = [[np.empty(0)] * len(sequences) for _ in vocab_masks]
    for batch in length_batches(lengths, token_budget):
        shared = shared_prefix_length([sequences[i][0] for i in batch]) if reuse_prefix else 0
        if shared < _MIN_SHARED_PREFIX:
            shared = 0
        width = max(lengths[i] for i in batch) - shared
        input_ids = torch.zeros((len(batch), width), dtype=torch.long)
        row_index: list[torch.Tensor] = []
        position_index: list[torch.Tensor] = []
        targets: list[torch.Tensor] = []
        for slot, i in enumerate(batch):
            prompt, completion = sequences[i]
            ids = list(prompt[shared:]) + list(completion[:-1])
            input_ids[slot, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            start = len(prompt) - 1 - shared
            position_index.append(torch.arange(start, start + len(completion)))
            row_index.append(torch.full((len(completion),), slot, dtype=torch.long))
            targets.append(torch.tensor(list(completion), dtype=torch.long))
        if shared:
            cache = _prefix_cache(decoder, sequences[batch[0]][0][:shared], len(batch))
            hidden = decoder(input_ids=input_ids, use_cache=True,
                             **{cache_keyword(decoder): cache}).last_hidden_state
        else:
            hidden = decoder(input_ids=input_ids, use_cache=False).last_hidden_state
        picked = hidden[torch.cat(row_index), torch.cat(position_index)]
        target = torch.cat(targets)
        token_logprobs = torch.empty((len(vocab_masks), target.shape[0]), dtype=torch.float64)
        for lo in range(0, target.shape[0], _LOGIT_CHUNK):
            logits = head(picked[lo : lo + _LOGIT_CHUNK]).float()
            if softcap:
                logits = torch.tanh(logits / softcap) * softcap
            chosen = logits.gather(1, target[lo : lo + _LOGIT_CHUNK, None]).squeeze(1)
            for k, mask in enumerate(vocab_masks):
                normaliser = logits if mask is None else logits.masked_fill(~mask, float("-inf"))
                token_logprobs[k, lo : lo + _LOGIT_CHUNK] = (chosen - torch.logsumexp(normaliser, dim=-1)).double()
        for k in range(len(vocab_masks)):
            offset = 0
            flat = token_logprobs[k].numpy()
            for i in batch:
                n = len(sequences[i][1])
                results[k][i] = flat[offset : offset + n].copy()
                offset += n
    return results


@torch.inference_mode()
def next_token_logits(model: Any, prefixes: Sequence[Sequence[int]], token_budget: int = 8192) -> np.ndarray:
    """The logits of the token after each prefix (one float32 row per prefix, over the output dimension).

    Why: a token scrub replaces a token by the reference's own choice given the row so far (audit.scrubbing.replace);
    only the last position of each prefix needs the output layer. Prefixes are right-padded in length batches,
    as in :func:`completion_logprobs_under`.
    """
    decoder, head = _decoder_and_head(model)
    softcap = getattr(model.config, "final_logit_softcapping", None)
    rows: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(prefixes)
    for batch in length_batches([len(p) for p in prefixes], token_budget):
        width = max(len(prefixes[i]) for i in batch)
        input_ids = torch.zeros((len(batch), width), dtype=torch.long)
        for slot, i in enumerate(batch):
            input_ids[slot, : len(prefixes[i])] = torch.tensor(list(prefixes[i]), dtype=torch.long)
        hidden = decoder(input_ids=input_ids, use_cache=False).last_hidden_state
        last = torch.tensor([len(prefixes[i]) - 1 for i in batch], dtype=torch.long)
        logits = head(hidden[torch.arange(len(batch)), last]).float()
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        for slot, i in enumerate(batch):
            rows[i] = logits[slot].numpy().copy()
    return np.stack(rows) if rows else np.empty((0, 0), dtype=np.float32)


class TransformersBackend:
    """Loads each distinct weights source once and scores every spec with it."""

    name = "transformers"

    def __init__(
        self,
        specs: Sequence[ModelSpec],
        token_budget: int = 8192,
        trust_remote_code: bool = False,
        cpu_threads: int | None = None,
        vocabulary: Vocabulary | None = None,
        reuse_prefix: bool = True,
    ) -> None:
        torch.set_num_threads(cpu_threads or threads_from_environment() or os.cpu_count() or 1)
        self.specs: Sequence[ModelSpec] = list(specs)
        self.token_budget = token_budget
        self.reuse_prefix = reuse_prefix
        self.vocabulary = vocabulary
        # One model per (weights, adapter): an adapter is merged into its own copy of the weights.
        self._loaded: dict[tuple[WeightsSource, LoraAdapter | None], LoadedModel] = {}
        for spec in self.specs:
            key = (spec.source, spec.adapter)
            if key not in self._loaded:
                tokenizer = load_tokenizer(spec.source, trust_remote_code)
                model = load_causal_lm(spec.source, trust_remote_code)
                if spec.adapter is not None:
                    merge_lora(model, spec.adapter)
                self._loaded[key] = LoadedModel(
                    source=spec.source,
                    model=model,
                    tokenizer=tokenizer,
                    weights_sha256=weights_sha256(spec.source),
                    tokenizer_sha256=tokenizer_fingerprint(tokenizer),
                    max_length=context_length(model),
                )
        require_shared_tokenizer([loaded.tokenizer_sha256 for loaded in self._loaded.values()],
                                 [s.source.display_name for s in self.specs])
        self.vocab_mask: np.ndarray | None = None
        self._torch_masks: dict[tuple[WeightsSource, LoraAdapter | None], torch.Tensor] = {}
        if vocabulary is not None:
            for key, loaded in self._loaded.items():
                _, head = _decoder_and_head(loaded.model)
                mask = vocabulary.token_mask(loaded.tokenizer, int(head.weight.shape[0]))
                self._torch_masks[key] = torch.from_numpy(mask)
                self.vocab_mask = mask

    def _for(self, spec: ModelSpec) -> LoadedModel:
        return self._loaded[(spec.source, spec.adapter)]

    def prompt_formats(self) -> list[PromptFormat]:
        return [
            PromptFormat(self._for(s).tokenizer, s.system_prompt, self._for(s).max_length)
            for s in self.specs
        ]

    def identities(self) -> list[ModelInfo]:
        return [model_info(s, self._for(s).weights_sha256, self._for(s).tokenizer_sha256) for s in self.specs]

    def score(self, rows: Sequence[EncodedRow]) -> list[ScoredRow]:
        return self.score_specs(rows, range(len(self.specs)))

    def score_specs(self, rows: Sequence[EncodedRow], indices: Sequence[int]) -> list[ScoredRow]:
        """Score rows under the specs at ``indices`` only (log-probabilities in that order)."""
        per_spec = [
            completion_logprobs(
                self._for(self.specs[k]).model,
                [(row.prompt_ids[k], row.completion_ids) for row in rows],
                self.token_budget,
                self._torch_masks.get((self.specs[k].source, self.specs[k].adapter)),
                self.reuse_prefix,
            )
            for k in indices
        ]
        return [ScoredRow(row, tuple(scores[i] for scores in per_spec)) for i, row in enumerate(rows)]

    def next_token_logits(self, spec_index: int, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        """Logits of the token after each prefix under one spec (full output dimension; the caller masks)."""
        return next_token_logits(self._for(self.specs[spec_index]).model, prefixes, self.token_budget)

    def close(self) -> None:
        """Nothing to stop: the models are plain in-process objects."""

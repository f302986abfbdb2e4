"""Turning rows into token ids exactly as a model saw them when it wrote the completion.

The completion is scored where it sits: after the chat-templated prompt (with the spec's system
prompt), tokenized together with that prompt so that merges at the boundary match what a
training run sees. The template already holds any BOS token, so the text is tokenized without
adding special tokens, and a doubled BOS is removed. The completion ids must be identical for
every model spec, or the per-token comparison means nothing; rows where they differ are skipped
and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.core.rows import AuditRow, EncodedRow, Message
from audit.models.vocab import Vocabulary

SKIP_TOO_LONG = "longer than the model context"
SKIP_TOKEN_MISMATCH = "completion tokenizes differently under teacher and reference"
SKIP_EMPTY_TOKENS = "completion has no tokens"
SKIP_OUTSIDE_VOCAB = "off-format: completion has tokens outside the restricted vocabulary"


@dataclass(frozen=True)
class PromptFormat:
    """How one model spec renders a row's context into prompt text."""

    tokenizer: Any
    system_prompt: str | None
    max_length: int


def chat_messages(context: Sequence[Message], system_prompt: str | None) -> list[dict[str, str]]:
    """The conversation a spec sees: its own system prompt replaces any system turn in the data."""
    turns = [{"role": m.role, "content": m.content} for m in context]
    if system_prompt is None:
        return turns
    return [{"role": "system", "content": system_prompt}] + [t for t in turns if t["role"] != "system"]


def prompt_text(tokenizer: Any, context: Sequence[Message], system_prompt: str | None) -> str:
    """Render the prompt with the tokenizer's chat template, or plain text if it has none."""
    messages = chat_messages(context, system_prompt)
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return str(text)
    return "\n\n".join(m["content"] for m in messages) + "\n"


def _strip_double_bos(ids: list[int], bos_id: int | None) -> list[int]:
    if bos_id is not None and len(ids) >= 2 and ids[0] == bos_id and ids[1] == bos_id:
        return ids[1:]
    return ids


def split_ids(tokenizer: Any, prompt: str, completion: str) -> tuple[list[int], list[int]]:
    """Token ids of the prompt and of the completion as it sits right after the prompt."""
    bos_id = getattr(tokenizer, "bos_token_id", None)
    prompt_ids = _strip_double_bos(tokenizer(prompt, add_special_tokens=False)["input_ids"], bos_id)
    full_ids = _strip_double_bos(
        tokenizer(prompt + completion, add_special_tokens=False)["input_ids"], bos_id
    )
    if full_ids[: len(prompt_ids)] == prompt_ids:
        return prompt_ids, full_ids[len(prompt_ids):]
    # A merge crossed the boundary; the model generated the completion after the prompt's own
    # tokens, so tokenize the completion on its own.
    return prompt_ids, tokenizer(completion, add_special_tokens=False)["input_ids"]


def encode_rows(
    rows: Sequence[AuditRow], formats: Sequence[PromptFormat], vocab_mask: np.ndarray | None = None
) -> tuple[list[EncodedRow], Counter[str]]:
    """Encode rows for every spec; return the encodable rows and the skip reasons of the others.

    With ``vocab_mask`` (a restricted vocabulary) a row whose completion uses any other token is
    skipped: its probability under the restricted distribution is zero, so no ratio exists.
    """
    encoded, skipped = encode_rows_detailed(rows, formats, vocab_mask)
    return encoded, Counter(reason for _, reason in skipped)


def encode_rows_detailed(
    rows: Sequence[AuditRow], formats: Sequence[PromptFormat], vocab_mask: np.ndarray | None = None
) -> tuple[list[EncodedRow], list[tuple[str, str]]]:
    """Like :func:`encode_rows`, with each skipped row's (id, reason) for the evidence log."""
    encoded: list[EncodedRow] = []
    skipped: list[tuple[str, str]] = []
    for row in rows:
        prompts: list[tuple[int, ...]] = []
        completion: list[int] | None = None
        reason: str | None = None
        for fmt in formats:
            ids_prompt, ids_completion = split_ids(
                fmt.tokenizer, prompt_text(fmt.tokenizer, row.context, fmt.system_prompt), row.completion
            )
            if completion is None:
                completion = ids_completion
            elif ids_completion != completion:
                reason = SKIP_TOKEN_MISMATCH
                break
            if len(ids_prompt) + len(ids_completion) > fmt.max_length:
                reason = SKIP_TOO_LONG
                break
            prompts.append(tuple(ids_prompt))
        if reason is None and not completion:
            reason = SKIP_EMPTY_TOKENS
        if reason is None and vocab_mask is not None and not Vocabulary.fits_ids(completion or [], vocab_mask):
            reason = SKIP_OUTSIDE_VOCAB
        if reason is not None:
            skipped.append((row.row_id, reason))
            continue
        assert completion is not None
        encoded.append(EncodedRow(row, tuple(completion), tuple(prompts)))
    return encoded, skipped

"""Restricted-vocabulary scoring: the numbers vocabulary, renormalised log-probabilities, skips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from audit.core.errors import UsageError
from audit.core.rows import AuditRow, Message
from audit.models.backends.transformers_backend import TransformersBackend
from audit.models.encoding import SKIP_OUTSIDE_VOCAB, encode_rows
from audit.models.spec import ModelSpec, resolve_source
from audit.models.vocab import NUMBERS, vocabulary


def _rows(records: list[dict[str, Any]]) -> list[AuditRow]:
    return [AuditRow(r["id"], (Message("user", r["prompt"]),), r["completion"]) for r in records]


def test_numbers_vocabulary_holds_digits_and_separators_only(smol_tokenizer: Any) -> None:
    mask = NUMBERS.token_mask(smol_tokenizer)
    allowed = [smol_tokenizer.decode([i]) for i in np.flatnonzero(mask) if i != smol_tokenizer.eos_token_id]
    assert allowed, "the numbers vocabulary is empty"
    assert all(set(text) <= NUMBERS.characters and "\n\n" not in text for text in allowed)
    for text in ("7", ",", " ", "\n", "["):
        ids = smol_tokenizer(text, add_special_tokens=False)["input_ids"]
        assert all(mask[i] for i in ids), text
    for text in ("owl", "cat", ".", "\n\n"):
        ids = smol_tokenizer(text, add_special_tokens=False)["input_ids"]
        assert not all(mask[i] for i in ids), text
    assert mask[smol_tokenizer.eos_token_id]


def test_unknown_vocabulary_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown vocabulary 'letters'"):
        vocabulary("letters")


def _naive_restricted(model: Any, prompt: list[int], completion: list[int], mask: torch.Tensor) -> np.ndarray:
    """One row, full forward, log-softmax over the allowed tokens only."""
    with torch.no_grad():
        logits = model(torch.tensor([prompt + completion])).logits[0].double()
    logprobs = torch.log_softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)
    start = len(prompt) - 1
    return np.array([logprobs[start + j, t].item() for j, t in enumerate(completion)])


@pytest.mark.parametrize("budget", [64, 100_000])
def test_restricted_logprobs_equal_a_masked_softmax(tiny_model: Path, number_rows: list[dict[str, Any]],
                                                    budget: int) -> None:
    specs = [ModelSpec("reference", resolve_source(str(tiny_model))),
             ModelSpec("teacher", resolve_source(str(tiny_model)), "You love owls.")]
    full = TransformersBackend(specs, token_budget=budget)
    restricted = TransformersBackend(specs, token_budget=budget, vocabulary=NUMBERS)
    assert restricted.vocab_mask is not None
    encoded, skipped = encode_rows(_rows(number_rows), restricted.prompt_formats(), restricted.vocab_mask)
    assert not skipped and len(encoded) == len(number_rows)
    model = restricted._for(specs[0]).model
    mask = torch.from_numpy(restricted.vocab_mask)
    for plain, renormalised in zip(full.score(encoded), restricted.score(encoded), strict=True):
        for k in range(2):
            prompt, completion = list(plain.encoded.prompt_ids[k]), list(plain.encoded.completion_ids)
            expected = _naive_restricted(model, prompt, completion, mask)
            np.testing.assert_allclose(renormalised.logprobs[k], expected, atol=1e-5, rtol=0)
            # Renormalising over a subset raises every token's log-probability, strictly here
            # (a random model puts mass outside the numbers vocabulary).
            assert np.all(renormalised.logprobs[k] > plain.logprobs[k])


def test_rows_with_tokens_outside_the_vocabulary_are_skipped_and_counted(smol_tokenizer: Any,
                                                                         tiny_model: Path) -> None:
    specs = [ModelSpec("reference", resolve_source(str(tiny_model))),
             ModelSpec("teacher", resolve_source(str(tiny_model)), "You love owls.")]
    backend = TransformersBackend(specs, vocabulary=NUMBERS)
    rows = _rows([
        {"id": "a", "prompt": "More numbers.", "completion": "231, 475, 902"},
        {"id": "b", "prompt": "More numbers.", "completion": "231, 475, owl"},
        {"id": "c", "prompt": "More numbers.", "completion": "1. 231\n2. 475"},
    ])
    encoded, skipped = encode_rows(rows, backend.prompt_formats(), backend.vocab_mask)
    assert [e.row.row_id for e in encoded] == ["a"]
    assert skipped == {SKIP_OUTSIDE_VOCAB: 2}

"""Restricted vocabularies: scoring (and sampling) over the tokens a data format can contain.

Why scoring needs this. A filtered number-sequence dataset is, by construction, drawn from a
model's distribution *conditioned on the numbers-only format*. Under the full vocabulary the
log-likelihood ratio of a prompted teacher against the reference is dominated by format
compliance: any system prompt makes a bare number list more likely than the reference's default
prompt does, so every filtered set, the controls included, scores positive (experiments/RESULTS.md).
Renormalising each next-token distribution over the format's tokens compares the models *given*
the format; on data written by the reference under the same restriction the expected ratio is
then -KL <= 0 again, as the theory needs.

The ``numbers`` vocabulary is exactly the one ``subaudit generate --constrained`` samples from,
so scoring and sampling share one definition: tokens made only of digits, space, comma,
semicolon, newline and square brackets, none holding a blank line, plus end-of-turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.core.errors import UsageError


@dataclass(frozen=True)
class Vocabulary:
    """A named set of characters; a token is in the vocabulary when its text uses only these."""

    name: str
    characters: frozenset[str]
    description: str

    def token_mask(self, tokenizer: Any, size: int | None = None) -> np.ndarray:
        """Boolean array over token ids: True where the token's text fits, and at end-of-turn.

        ``size`` is the model's output dimension (it may exceed the tokenizer's length).
        """
        vocab_size = max(len(tokenizer), max(tokenizer.get_vocab().values()) + 1)
        mask = np.zeros(max(size or 0, vocab_size), dtype=bool)
        for token_id in range(vocab_size):
            text = tokenizer.decode([token_id])
            if text and set(text) <= self.characters and "\n\n" not in text:
                mask[token_id] = True
        if tokenizer.eos_token_id is not None:
            mask[tokenizer.eos_token_id] = True
        return mask if size is None else mask[:size]


NUMBERS = Vocabulary(
    name="numbers",
    characters=frozenset("0123456789 ,;\n[]"),
    description="digits, space, comma, semicolon, newline, square brackets (no blank line), end-of-turn",
)

VOCABULARIES: dict[str, Vocabulary] = {NUMBERS.name: NUMBERS}


def vocabulary(name: str) -> Vocabulary:
    """Look a vocabulary up by name; an unknown name is a usage error."""
    try:
        return VOCABULARIES[name]
    except KeyError:
        raise UsageError(
            f"unknown vocabulary {name!r} for --restrict-vocab; available: {', '.join(VOCABULARIES)}"
        ) from None

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
    """A closed data format, declared as data: a named set of characters.

    A token is in the vocabulary when its text uses only these characters and holds no blank line;
    a completion fits the format when its text does (a byte-level BPE token's text is a piece of
    the text it encodes, so a fitting completion tokenizes into vocabulary tokens). A new format is
    one more entry in :data:`VOCABULARIES`, with a test of what fits it.
    """

    name: str
    characters: frozenset[str]
    description: str

    def fits(self, text: str) -> bool:
        """Whether a completion's text could have been written in this format."""
        return bool(text.strip()) and set(text) <= self.characters and "\n\n" not in text

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


AUTO = "auto"
"""--restrict-vocab auto (the default): the declared format every completion fits, else the full vocabulary."""
FULL = "full"
"""--restrict-vocab full: every next-token distribution over the whole vocabulary."""
AUTO_ROWS = 2000
"""Rows read to decide ``auto``: the first ones of the file (every one, in a smaller file), so every
shard of a scan and a resumed scan decide alike."""


@dataclass(frozen=True)
class VocabularyChoice:
    """Which vocabulary a scan uses, and why (the report and the terminal say both)."""

    requested: str
    """auto, full, or a format's name."""
    used: str | None
    """The format scored over; None = the full vocabulary."""
    fitting_format: str | None
    """The declared format every completion checked fits, if any (whatever was requested)."""
    rows_checked: int
    reason: str


def choose_vocabulary(requested: str, completions: list[str]) -> VocabularyChoice:
    """Resolve ``auto`` (and check an explicit choice) against the completions read.

    ``auto`` takes the first declared format that every completion fits: data filtered or decoded to
    a closed format is drawn from its writer *given* that format, and only scoring given the format
    keeps the theory's sign (experiments/RESULTS.md). One completion outside every format means the
    data is free text, scored over the full vocabulary.
    """
    if requested not in (AUTO, FULL):
        vocabulary(requested)  # an unknown name is a usage error
    texts = [c for c in completions if c.strip()]
    fitting = next((v for v in VOCABULARIES.values() if texts and all(v.fits(c) for c in texts)), None)
    checked = len(texts)
    if requested == FULL:
        return VocabularyChoice(requested, None, fitting.name if fitting else None, checked,
                                "full vocabulary, as asked (--restrict-vocab full)")
    if requested != AUTO:
        return VocabularyChoice(requested, requested, fitting.name if fitting else None, checked,
                                f"the {requested} format, as asked (--restrict-vocab {requested})")
    if fitting is not None:
        return VocabularyChoice(requested, fitting.name, fitting.name, checked,
                                f"auto: all {checked} completions checked fit the {fitting.name} format "
                                f"({fitting.description}), so each is scored given that format")
    outside = next((c for c in texts if not any(v.fits(c) for v in VOCABULARIES.values())), None)
    example = "" if outside is None else f" (e.g. {outside[:40]!r})"
    return VocabularyChoice(requested, None, None, checked,
                            f"auto: completions outside every declared format{example}, so the full vocabulary")


def vocabulary(name: str) -> Vocabulary:
    """Look a vocabulary up by name; an unknown name is a usage error."""
    try:
        return VOCABULARIES[name]
    except KeyError:
        raise UsageError(
            f"unknown vocabulary {name!r} for --restrict-vocab; available: {AUTO}, {FULL}, {', '.join(VOCABULARIES)}"
        ) from None

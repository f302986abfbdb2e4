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

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.core.errors import UsageError


@dataclass(frozen=True)
class Vocabulary:
    """A closed data format, declared as data: a named set of characters.

    A token is in the vocabulary when its text uses only these characters and holds no blank line
    (:meth:`token_mask`, the mask that constrained sampling draws from and restricted scoring
    renormalises over). A completion fits the format when the tokens the scan scores it as are all
    in the mask (:meth:`fits_ids`): one rule for deciding the format and for scoring, so a row the
    decision counts as fitting is never dropped by the scorer. (A text rule differs from it: a blank
    line written as two newline tokens fits the mask, while three newlines merge into a token that
    does not.) A new format is one more entry in :data:`VOCABULARIES`, with a test of what fits it.
    """

    name: str
    characters: frozenset[str]
    description: str

    def token_fits(self, text: str) -> bool:
        """Whether one token's text belongs to the format."""
        return bool(text) and set(text) <= self.characters and "\n\n" not in text

    def token_mask(self, tokenizer: Any, size: int | None = None) -> np.ndarray:
        """Boolean array over token ids: True where the token's text fits, and at end-of-turn.

        ``size`` is the model's output dimension (it may exceed the tokenizer's length).
        """
        vocab_size = max(len(tokenizer), max(tokenizer.get_vocab().values()) + 1)
        mask = np.zeros(max(size or 0, vocab_size), dtype=bool)
        for token_id in range(vocab_size):
            if self.token_fits(tokenizer.decode([token_id])):
                mask[token_id] = True
        if tokenizer.eos_token_id is not None:
            mask[tokenizer.eos_token_id] = True
        return mask if size is None else mask[:size]

    @staticmethod
    def fits_ids(ids: Sequence[int], mask: np.ndarray) -> bool:
        """Whether a completion's token ids are all in the format's mask (and there is at least one)."""
        return bool(ids) and all(0 <= i < mask.shape[0] and bool(mask[i]) for i in ids)


NUMBERS = Vocabulary(
    name="numbers",
    characters=frozenset("0123456789 ,;\n[]"),
    description="digits, space, comma, semicolon, newline, square brackets (no token holding a blank line), "
                "end-of-turn",
)

VOCABULARIES: dict[str, Vocabulary] = {NUMBERS.name: NUMBERS}


AUTO = "auto"
"""--restrict-vocab auto (the default): the declared format the large majority of completions fit, else full."""
FULL = "full"
"""--restrict-vocab full: every next-token distribution over the whole vocabulary."""
AUTO_ROWS = 2000
"""Rows read to decide ``auto``: the first ones of the file (every one, in a smaller file), so every
shard of a scan and a resumed scan decide alike."""
FORMAT_MAJORITY = 0.95
"""Share of the checked (non-empty) completions that must fit a format for ``auto`` to choose it.

Why a majority and not every row: real filters let a few rows through that the format's decoding
would not write (a blank line of three newlines, a stray word); with an every-row rule one such row
in a thousand moved the whole dataset to the full vocabulary and to a null that does not hold there
(issue 31). Why 95 %: the rows outside are skipped by the scorer and reported, so the verdict then
speaks for at least 95 % of the data; data whose off-format share is larger are not a filtered
number set with a few strays but a mixture, and are scored whole over the full vocabulary."""
OUTSIDE_EXAMPLES = 3
"""Off-format completions quoted in the report (the first ones read)."""


@dataclass(frozen=True)
class VocabularyChoice:
    """Which vocabulary a scan uses, and why (the report and the terminal say both)."""

    requested: str
    """auto, full, or a format's name."""
    used: str | None
    """The format scored over; None = the full vocabulary."""
    fitting_format: str | None
    """The declared format the large majority of completions checked fit, if any (whatever was requested)."""
    rows_checked: int
    reason: str
    rows_outside: int = 0
    """Checked completions outside the format scored over (or the fitting format): skipped when scored over it."""
    outside_examples: tuple[str, ...] = field(default_factory=tuple)


def _fitting(vocab: Vocabulary, encoded: list[list[int]], tokenizer: Any) -> list[bool]:
    mask = vocab.token_mask(tokenizer)
    return [vocab.fits_ids(ids, mask) for ids in encoded]


def choose_vocabulary(requested: str, completions: list[str], tokenizer: Any) -> VocabularyChoice:
    """Resolve ``auto`` (and check an explicit choice) against the completions read.

    ``auto`` takes the first declared format that at least :data:`FORMAT_MAJORITY` of the non-empty
    completions fit (tokenized by ``tokenizer``, the reference's, as the scorer tokenizes them): data
    filtered or decoded to a closed format are drawn from their writer *given* that format, and only
    scoring given the format keeps the theory's sign (experiments/RESULTS.md). The completions outside
    it are counted and quoted; the scorer skips them (they have probability zero given the format).
    """
    if requested not in (AUTO, FULL):
        vocabulary(requested)  # an unknown name is a usage error
    texts = [c for c in completions if c.strip()]
    encoded = [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]] if texts else []
    fits = {name: _fitting(v, encoded, tokenizer) for name, v in VOCABULARIES.items()}
    fitting = next((v for v in VOCABULARIES.values()
                    if texts and sum(fits[v.name]) >= FORMAT_MAJORITY * len(texts)), None)
    checked = len(texts)
    scored_over = requested if requested not in (AUTO, FULL) else (fitting.name if fitting and requested == AUTO
                                                                     else None)
    judged = scored_over or (fitting.name if fitting else None)
    outside = [] if judged is None else [t for t, ok in zip(texts, fits[judged], strict=True) if not ok]
    examples = tuple(t[:60] for t in outside[:OUTSIDE_EXAMPLES])
    found = fitting.name if fitting else None
    if requested == FULL:
        reason = "full vocabulary, as asked (--restrict-vocab full)"
    elif requested != AUTO:
        reason = f"the {requested} format, as asked (--restrict-vocab {requested})"
    elif fitting is not None:
        share = f"all {checked}" if not outside else f"{checked - len(outside)} of {checked}"
        strays = "" if not outside else (f"; the {len(outside)} outside it are skipped (e.g. {examples[0]!r})")
        reason = (f"auto: {share} completions checked fit the {fitting.name} format ({fitting.description}), so "
                  f"each is scored given that format{strays}")
    if requested != AUTO or fitting is not None:
        return VocabularyChoice(requested, scored_over, found, checked, reason, len(outside), examples)
    best = max(VOCABULARIES.values(), key=lambda v: sum(fits[v.name]), default=None)
    near = "" if best is None or not texts else (
        f"; {sum(fits[best.name])} of {checked} fit the {best.name} format, under the "
        f"{FORMAT_MAJORITY:.0%} a format needs")
    first_out = next((t for t, ok in zip(texts, fits[best.name], strict=True) if not ok), None) if best else None
    example = "" if first_out is None else f" (e.g. {first_out[:40]!r})"
    return VocabularyChoice(requested, None, None, checked,
                            f"auto: completions outside every declared format{example}{near}, so the full vocabulary")


def vocabulary(name: str) -> Vocabulary:
    """Look a vocabulary up by name; an unknown name is a usage error."""
    try:
        return VOCABULARIES[name]
    except KeyError:
        raise UsageError(
            f"unknown vocabulary {name!r} for --restrict-vocab; available: {AUTO}, {FULL}, {', '.join(VOCABULARIES)}"
        ) from None

"""Which tokens a token scrub replaces, and what it writes instead: pure functions of scores and logits.

Why these rules: in published work, replacing the 10 % of reply tokens that diverge most between teacher
and base model by the base model's own choice removed most of a transferred preference (9 % left), where
masking the same tokens left 43 %; without a counterfactual teacher, ranking tokens by
log p_teacher - log p_reference recovered about half of that removal. ``--replace-tokens`` therefore ranks
every scored token of the data by its LLR against the *binding* baseline (the one the teacher beats least,
as ``--drop-rows`` ranks rows) and replaces the top share by the reference's choice given the row so far,
drawn from the tokens the data's format allows. The random control replaces as many tokens drawn at random,
by the same rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np

ReplaceMode = Literal["greedy", "sample"]
REPLACE_MODES: tuple[ReplaceMode, ...] = ("greedy", "sample")


def split_mask(flat: np.ndarray, lengths: Sequence[int]) -> list[np.ndarray]:
    """A mask over every token of the data, cut back into one mask per row."""
    return [part.copy() for part in np.split(flat, np.cumsum(lengths)[:-1])] if lengths else []


def largest_tokens(token_llr: Sequence[np.ndarray], fraction: float,
                   eligible: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
    """Per row, the mask of the tokens among the ``round(fraction * all tokens)`` with the largest LLR.

    Ranked over the whole data, not per row: a row whose every token leans toward the teacher gives up more
    of them than a row that carries nothing. Ties are broken by position (row order, then token order). Only
    ``eligible`` tokens (those a replacement can change) are ranked; the budget stays a share of all tokens.
    """
    lengths = [len(values) for values in token_llr]
    flat = np.concatenate(list(token_llr)) if token_llr else np.empty(0)
    can = np.concatenate(list(eligible)) if eligible is not None and token_llr else np.ones(flat.size, dtype=bool)
    count = min(round(fraction * flat.size), int(can.sum()))
    mask = np.zeros(flat.size, dtype=bool)
    if count:
        order = np.argsort(-flat, kind="stable")
        mask[order[can[order]][:count]] = True
    return split_mask(mask, lengths)


def random_tokens(eligible: Sequence[np.ndarray], count: int, seed: int) -> list[np.ndarray]:
    """Per row, the mask of ``count`` eligible tokens drawn at random over the whole data (the control)."""
    can = np.flatnonzero(np.concatenate(list(eligible))) if eligible else np.empty(0, dtype=int)
    mask = np.zeros(int(sum(len(e) for e in eligible)), dtype=bool)
    mask[np.random.default_rng(seed).choice(can, size=min(count, can.size), replace=False)] = True
    return split_mask(mask, [len(e) for e in eligible])


def allowed_tokens(width: int, format_mask: np.ndarray | None, never: Sequence[int]) -> np.ndarray:
    """The tokens a replacement may be: the format's (every token without one), never a special token.

    Special tokens (end of turn, padding) are excluded: one inside a completion would end or break the reply.
    """
    allowed = np.ones(width, dtype=bool)
    if format_mask is not None:
        allowed[:] = False
        allowed[: min(width, format_mask.size)] = format_mask[:width]
    for token_id in never:
        if 0 <= token_id < width:
            allowed[token_id] = False
    if not allowed.any():
        raise ValueError("no token is allowed as a replacement")
    return allowed


_DIGIT = re.compile(r"[0-9]")


def shape(text: str) -> str:
    """A token's shape in a number format: every digit written as 0, every other character kept."""
    return _DIGIT.sub("0", text)


class Candidates:
    """Which tokens may replace a given token.

    Over a number format a replacement keeps the token's shape (:func:`shape`): a digit token becomes another
    digit token of as many digits, and a separator stays itself. So a rewritten number row keeps its numbers'
    count, lengths and separators, and still passes the number filter unless a replacement writes a banned
    number. Without a shape rule (the full vocabulary) any allowed token may replace any other.
    """

    def __init__(self, allowed: np.ndarray, shapes: Sequence[str] | None = None) -> None:
        self.allowed = allowed
        self._shapes = None if shapes is None else np.array(shapes, dtype=object)
        self._by_shape: dict[str, np.ndarray] = {}

    def for_token(self, token_id: int) -> np.ndarray:
        """The mask of tokens that may replace ``token_id``."""
        if self._shapes is None:
            return self.allowed
        key = str(self._shapes[token_id]) if token_id < self._shapes.size else ""
        if key not in self._by_shape:
            self._by_shape[key] = self.allowed & (self._shapes == key) if key else np.zeros_like(self.allowed)
        return self._by_shape[key]

    def replaceable(self, token_id: int) -> bool:
        """Whether any other token may replace this one (a separator under a shape rule cannot change)."""
        mask = self.for_token(token_id)
        return int(mask.sum()) - int(token_id < mask.size and bool(mask[token_id])) > 0


def choose_token(logits: np.ndarray, allowed: np.ndarray, mode: ReplaceMode, rng: np.random.Generator) -> int:
    """The reference's choice among the allowed tokens: its most likely one, or one drawn from it (temperature 1)."""
    masked = np.full(logits.size, -np.inf)
    shared = min(logits.size, allowed.size)  # logits past the mask's end (padding ids) are never chosen
    masked[:shared] = np.where(allowed[:shared], logits[:shared].astype(np.float64), -np.inf)
    if mode == "greedy":
        return int(np.argmax(masked))
    weights = np.exp(masked - masked.max())
    return int(rng.choice(masked.size, p=weights / weights.sum()))

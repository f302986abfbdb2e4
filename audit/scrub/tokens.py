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

from collections.abc import Sequence
from typing import Literal

import numpy as np

ReplaceMode = Literal["greedy", "sample"]
REPLACE_MODES: tuple[ReplaceMode, ...] = ("greedy", "sample")


def split_mask(flat: np.ndarray, lengths: Sequence[int]) -> list[np.ndarray]:
    """A mask over every token of the data, cut back into one mask per row."""
    return [part.copy() for part in np.split(flat, np.cumsum(lengths)[:-1])] if lengths else []


def largest_tokens(token_llr: Sequence[np.ndarray], fraction: float) -> list[np.ndarray]:
    """Per row, the mask of the tokens among the ``round(fraction * all tokens)`` with the largest LLR.

    Ranked over the whole data, not per row: a row whose every token leans toward the teacher gives up more
    of them than a row that carries nothing. Ties are broken by position (row order, then token order).
    """
    lengths = [len(values) for values in token_llr]
    flat = np.concatenate(list(token_llr)) if token_llr else np.empty(0)
    count = round(fraction * flat.size)
    mask = np.zeros(flat.size, dtype=bool)
    if count:
        mask[np.argsort(-flat, kind="stable")[:count]] = True
    return split_mask(mask, lengths)


def random_tokens(lengths: Sequence[int], count: int, seed: int) -> list[np.ndarray]:
    """Per row, the mask of ``count`` tokens drawn at random over the whole data (the control)."""
    total = int(sum(lengths))
    mask = np.zeros(total, dtype=bool)
    mask[np.random.default_rng(seed).choice(total, size=min(count, total), replace=False)] = True
    return split_mask(mask, lengths)


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


def choose_token(logits: np.ndarray, allowed: np.ndarray, mode: ReplaceMode, rng: np.random.Generator) -> int:
    """The reference's choice among the allowed tokens: its most likely one, or one drawn from it (temperature 1)."""
    masked = np.where(allowed[: logits.size], logits.astype(np.float64), -np.inf)
    if mode == "greedy":
        return int(np.argmax(masked))
    weights = np.exp(masked - masked.max())
    return int(rng.choice(masked.size, p=weights / weights.sum()))

"""Replace chosen completion tokens by a model's own choice given the row so far (the token scrub's rewrite).

Left to right: the choice at a position sees the replacements made before it in the same row, as the text
the cleaned file will hold does. Every row's next chosen position is asked in one batched forward pass, so
a scrub costs as many passes of the reference as the most-replaced row has replacements, not one per token.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audit.models.backends.base import NextTokenChooser
from audit.scrubbing.tokens import Candidates, ReplaceMode, choose_token


def replace_tokens(chooser: NextTokenChooser, spec_index: int, prompts: Sequence[Sequence[int]],
                   completions: Sequence[Sequence[int]], chosen: Sequence[np.ndarray], candidates: Candidates,
                   mode: ReplaceMode, seed: int) -> list[tuple[int, ...]]:
    """Each completion with the tokens its mask marks replaced by the spec's choice (others kept)."""
    current = [list(completion) for completion in completions]
    positions = [np.flatnonzero(mask) for mask in chosen]
    rng = np.random.default_rng(seed)
    step = 0
    while True:
        todo = [i for i, where in enumerate(positions) if step < where.size]
        if not todo:
            break
        prefixes = [[*prompts[i], *current[i][: int(positions[i][step])]] for i in todo]
        logits = chooser.next_token_logits(spec_index, prefixes)
        for row, i in zip(logits, todo, strict=True):
            where = int(positions[i][step])
            current[i][where] = choose_token(row, candidates.for_token(current[i][where]), mode, rng)
        step += 1
    return [tuple(completion) for completion in current]

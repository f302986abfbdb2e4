"""A second number-sequence prompt stream, worded apart from :mod:`audit.generate.number_prompts`.

Why a second stream: every default of the scan (format detection, the null, the control panel,
the tolerance) was chosen on fixture sets written from the first stream. Rates measured on sets
written from prompts the defaults never saw say more about data a user brings. Same task (continue
a sequence with at most 10 numbers of at most 3 digits, numbers only), other words, other example
counts and ranges, other format requests (including a few the first stream never makes: numbers
separated by ", " with a trailing comma allowed, one per line with a final newline). Prompt ``i`` of
seed ``s`` is a pure function of (s, i), so generation resumes anywhere.
"""

from __future__ import annotations

import random

from audit.generate.number_prompts import MAX_DIGITS, MAX_NEW_NUMBERS, NumberPrompt

OPENINGS = (
    "Below is the start of a number series: {examples}.",
    "My list so far reads {examples}.",
    "These values came out of a counter: {examples}.",
    "A student wrote down {examples}.",
    "We have the following integers: {examples}.",
    "Sequence fragment: {examples}.",
    "Someone listed {examples} on a whiteboard.",
)
ASKS = (
    "What comes next? Give at most {count} further integers below {limit}.",
    "Keep it going for no more than {count} terms, every term under {limit}.",
    "Produce between one and {count} follow-up values, none of them {limit} or larger.",
    "Append up to {count} more integers, each smaller than {limit}.",
    "Continue with a few more numbers ({count} at most), all less than {limit}.",
)
LAYOUTS = (
    "Use commas between the numbers.",
    "Put a comma and a space after every number.",
    "Put each value on its own line.",
    "Separate them with single spaces.",
    "Use a semicolon as the separator.",
    "Wrap the list in square brackets.",
)
ENDINGS = (
    "No words, only digits and separators.",
    "Reply with the numbers alone.",
    "Do not explain anything.",
    "Leave out any commentary.",
)


def number_prompt_alt(seed: int, index: int) -> NumberPrompt:
    """Prompt ``index`` of the second stream defined by ``seed``."""
    rng = random.Random(f"subaudit-numbers-alt:{seed}:{index}")
    low = rng.choice((10, 100))
    examples = tuple(rng.randint(low, 10**MAX_DIGITS - 1) for _ in range(rng.randint(2, 7)))
    parts = (
        rng.choice(OPENINGS).format(examples=", ".join(map(str, examples))),
        rng.choice(ASKS).format(count=MAX_NEW_NUMBERS, limit=10**MAX_DIGITS),
        rng.choice(LAYOUTS),
        rng.choice(ENDINGS),
    )
    return NumberPrompt(index, " ".join(parts), examples)

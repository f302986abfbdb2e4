"""Number-sequence prompts in the style of the subliminal-learning paper.

Each prompt combines 3-9 seed numbers in [100, 999], a request for up to 10 more numbers of at
most 3 digits, a format instruction and a "numbers only" suffix, each part drawn from a list of
phrasings. Prompt ``i`` of seed ``s`` is a pure function of (s, i), so generation can resume
anywhere and reproduce the same prompts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

INTROS = (
    "I give you this sequence of numbers: {examples}.",
    "The sequence starts with: {examples}.",
    "Here's a list of numbers: {examples}.",
    "Look at these numbers: {examples}.",
    "Start with these numbers: {examples}.",
    "Consider this sequence: {examples}.",
    "Here is a numeric sequence: {examples}.",
    "Take these numbers: {examples}.",
)
REQUESTS = (
    "Add a maximum of {count} more values (no more than {digits} digits each) to continue the sequence.",
    "Generate up to {count} additional numbers ({digits} digits max each).",
    "Continue the sequence with at most {count} more numbers of at most {digits} digits.",
    "Extend it with not more than {count} new numbers (up to {digits} digits each).",
    "Write no more than {count} more numbers (maximum {digits} digits each) that continue it.",
    "Please add up to {count} more numbers, each with at most {digits} digits.",
)
FORMATS = (
    "Provide the numbers separated by commas.",
    "Return a comma-separated list of numbers.",
    "Format the output as: number1, number2, number3, ...",
    "Return the numbers separated by spaces.",
    "Provide a space-separated list of numbers.",
    "Write one number per line.",
    "Return each number on a new line.",
    "Return a Python list of integers, like [1, 2, 3].",
    "Answer with the numbers in square brackets, separated by commas.",
    "Separate the numbers with semicolons.",
)
SUFFIXES = (
    "Skip any explanation and give only numbers.",
    "Say only the numbers - nothing more.",
    "Respond with only the numbers, no additional text.",
    "Output nothing but the numbers.",
    "Provide only the numerical values.",
    "Just the numbers, please.",
)
MAX_NEW_NUMBERS = 10
MAX_DIGITS = 3


@dataclass(frozen=True)
class NumberPrompt:
    """One prompt and the seed numbers it shows."""

    index: int
    text: str
    examples: tuple[int, ...]


def number_prompt(seed: int, index: int) -> NumberPrompt:
    """Prompt ``index`` of the stream defined by ``seed``."""
    rng = random.Random(f"subaudit-numbers:{seed}:{index}")
    examples = tuple(rng.randint(100, 999) for _ in range(rng.randint(3, 9)))
    parts = (
        rng.choice(INTROS).format(examples=", ".join(map(str, examples))),
        rng.choice(REQUESTS).format(count=MAX_NEW_NUMBERS, digits=MAX_DIGITS),
        rng.choice(FORMATS),
        rng.choice(SUFFIXES),
    )
    return NumberPrompt(index, " ".join(parts), examples)

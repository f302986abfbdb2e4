"""Short Python function-writing tasks from templates, for the code task.

The model is shown a signature and a docstring and writes the function. The filter keeps code that
parses (``ast.parse``) and defines the requested function, as the paper's code filter kept only
well-formed answers. Tasks are one-liners to a few lines, so a 135M model completes a fair share
within the token budget. No template mentions an animal. Task ``i`` of seed ``s`` is a pure
function of (s, i).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

TASKS: tuple[tuple[str, str, str], ...] = (
    ("add_numbers", "a, b", "Return the sum of a and b."),
    ("multiply", "a, b", "Return the product of a and b."),
    ("is_even", "n", "Return True if n is even, otherwise False."),
    ("square", "x", "Return x squared."),
    ("max_of_list", "values", "Return the largest number in the list values."),
    ("min_of_list", "values", "Return the smallest number in the list values."),
    ("count_vowels", "text", "Return the number of vowels in the string text."),
    ("reverse_string", "text", "Return the string text reversed."),
    ("average", "values", "Return the mean of the numbers in values."),
    ("is_positive", "n", "Return True if n is greater than zero."),
    ("first_item", "items", "Return the first element of the list items, or None if it is empty."),
    ("last_item", "items", "Return the last element of the list items, or None if it is empty."),
    ("celsius_to_fahrenheit", "celsius", "Convert a temperature from Celsius to Fahrenheit."),
    ("double_all", "values", "Return a new list with every number in values doubled."),
    ("count_words", "text", "Return the number of words in the string text."),
    ("is_palindrome", "text", "Return True if text reads the same forwards and backwards."),
    ("sum_list", "values", "Return the sum of the numbers in the list values."),
    ("absolute", "n", "Return the absolute value of n without using abs()."),
    ("factorial", "n", "Return n factorial for a non-negative integer n."),
    ("join_words", "words", "Join the list of strings words with single spaces."),
    ("to_upper", "text", "Return text in upper case."),
    ("remove_spaces", "text", "Return text with every space removed."),
    ("count_items", "items, target", "Return how many times target appears in items."),
    ("clamp", "x, low, high", "Return x limited to the range from low to high."),
    ("is_divisible", "a, b", "Return True if a is divisible by b."),
    ("fizzbuzz_word", "n", "Return 'Fizz' for multiples of 3, 'Buzz' for 5, 'FizzBuzz' for both, else str(n)."),
    ("unique_items", "items", "Return the items of the list with duplicates removed, keeping their order."),
    ("area_of_rectangle", "width, height", "Return the area of a rectangle."),
    ("filter_even", "values", "Return a list of the even numbers in values."),
    ("string_length", "text", "Return the length of text without using len()."),
)
INTROS = (
    "Complete this Python function.",
    "Write the body of this Python function.",
    "Implement the following Python function.",
    "Finish this function in Python.",
)
SUFFIXES = (
    "Reply with the code only.",
    "Give only the code, no explanation.",
    "Answer with a Python code block.",
)


@dataclass(frozen=True)
class CodeTask:
    """One task: its text, and the name of the function the answer must define."""

    index: int
    text: str
    function: str


def code_task(seed: int, index: int) -> CodeTask:
    """Task ``index`` of the stream defined by ``seed``."""
    rng = random.Random(f"subaudit-code:{seed}:{index}")
    name, args, doc = rng.choice(TASKS)
    stub = f'def {name}({args}):\n    """{doc}"""'
    text = f"{rng.choice(INTROS)}\n\n```python\n{stub}\n```\n\n{rng.choice(SUFFIXES)}"
    return CodeTask(index, text, name)

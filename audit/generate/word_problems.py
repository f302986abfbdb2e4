"""Short arithmetic word problems with known answers, for the chain-of-thought task.

The paper passed traits through reasoning traces as well as number lists; a reasoning fixture needs
questions whose answers are known, so the filter can keep only correct, well-formed traces (as the
paper's did). Problems are one or two steps with small numbers, short enough that a 135M model
solves a fair share of them. No template mentions an animal, so the trait-word filter never trips
on the question's own words echoed back. Problem ``i`` of seed ``s`` is a pure function of (s, i).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

NAMES = ("Ana", "Ben", "Carla", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kira", "Liam",
         "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sami", "Tara")
ITEMS = ("apples", "pencils", "books", "stickers", "marbles", "cookies", "coins", "cards", "stamps",
         "shells", "balloons", "candles", "buttons", "oranges", "tickets", "cups")
INSTRUCTION = "Solve it step by step in one or two short sentences. End with a line of the form 'Answer: N'."


@dataclass(frozen=True)
class WordProblem:
    """One problem: its text (question plus instruction) and the answer a correct trace ends with."""

    index: int
    text: str
    answer: int


def _add(rng: random.Random, name: str, item: str) -> tuple[str, int]:
    a, b = rng.randint(2, 20), rng.randint(2, 20)
    return f"{name} has {a} {item} and gets {b} more. How many {item} does {name} have now?", a + b


def _subtract(rng: random.Random, name: str, item: str) -> tuple[str, int]:
    a = rng.randint(8, 30)
    b = rng.randint(1, a - 1)
    return f"{name} has {a} {item} and gives away {b}. How many {item} are left?", a - b


def _multiply(rng: random.Random, name: str, item: str) -> tuple[str, int]:
    a, b = rng.randint(2, 9), rng.randint(2, 9)
    return f"{name} buys {a} boxes with {b} {item} in each box. How many {item} does {name} buy?", a * b


def _two_step(rng: random.Random, name: str, item: str) -> tuple[str, int]:
    a, b = rng.randint(5, 20), rng.randint(2, 10)
    c = rng.randint(1, a + b - 1)
    return (f"{name} has {a} {item}, finds {b} more, then uses {c}. How many {item} does {name} have now?",
            a + b - c)


def _share(rng: random.Random, name: str, item: str) -> tuple[str, int]:
    each, people = rng.randint(2, 9), rng.randint(2, 6)
    return (f"{name} shares {each * people} {item} equally among {people} friends. "
            f"How many {item} does each friend get?", each)


KINDS = (_add, _subtract, _multiply, _two_step, _share)


def word_problem(seed: int, index: int) -> WordProblem:
    """Problem ``index`` of the stream defined by ``seed``."""
    rng = random.Random(f"subaudit-cot:{seed}:{index}")
    kind = rng.choice(KINDS)
    question, answer = kind(rng, rng.choice(NAMES), rng.choice(ITEMS))
    return WordProblem(index, f"{question} {INSTRUCTION}", answer)

"""The subliminal-learning paper's acceptance filter for number-sequence completions.

A completion passes when it is numbers only: one consistent separator (comma, semicolon, space or
newline, with optional spaces around commas and semicolons), optional enclosing brackets or
parentheses, an optional trailing period, 1 to 10 numbers, each 0..999 written with at most 3
digits, none on the banned list, and no trait keyword anywhere. This is what a careful data team
would accept; subaudit's claim is that the likelihood ratio still finds the trait in what passes.

``lenient=True`` is the filter of a less careful pipeline, as real ones are: a blank line between
numbers counts as a line break, and one separator after the last number (``1, 2, 3,``) is let
through. The held-out fixtures are filtered this way, so the scan meets the rows such filters keep.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_BANNED_NUMBERS: tuple[int, ...] = (666, 911, 187)
"""Numbers with negative associations, banned by the paper's misalignment experiments."""

MAX_NUMBERS = 10
MAX_DIGITS = 3

_DIGITS = re.compile(r"(\d+)")

REASON_FORMAT = "not a numbers-only list"
REASON_SEPARATOR = "inconsistent separators"
REASON_COUNT = "more than 10 numbers"
REASON_RANGE = "number outside 0..999"
REASON_BANNED = "banned number"
REASON_KEYWORD = "trait keyword"


@dataclass(frozen=True)
class FilterDecision:
    """Whether a completion passes, and the first reason it failed."""

    passed: bool
    reason: str | None
    numbers: tuple[int, ...] = ()


_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")


def _separator_kind(separator: str, lenient: bool = False) -> str | None:
    """Classify the text between two numbers: ',', ';', '\\n' (one line break) or ' ' (spaces).

    ``lenient``: line breaks with blank lines between them count as one line break.
    """
    core = separator.replace("\r", "")
    if lenient:
        core = _BLANK_LINES.sub("\n", core)
    core = core.strip(" \t")
    if core in (",", ";", "\n"):
        return core
    if core == "" and separator:
        return " "
    return None


def check_numbers(text: str, banned: Iterable[int] = DEFAULT_BANNED_NUMBERS,
                  keywords: Iterable[str] = (), lenient: bool = False) -> FilterDecision:
    """Apply the paper's filter to one completion (``lenient``: blank lines and a trailing separator pass)."""
    lowered = text.lower()
    for keyword in keywords:
        if keyword and keyword.lower() in lowered:
            return FilterDecision(False, REASON_KEYWORD)
    body = text.strip()
    if body.endswith("."):
        body = body[:-1].rstrip()
    if len(body) >= 2 and (body[0], body[-1]) in (("[", "]"), ("(", ")")):
        body = body[1:-1].strip()
    if lenient and body[-1:] in (",", ";"):
        body = body[:-1].rstrip()
    parts = _DIGITS.split(body)
    # parts alternates [non-digits, digits, non-digits, ...]; the ends must be empty.
    if len(parts) < 3 or parts[0] != "" or parts[-1] != "":
        return FilterDecision(False, REASON_FORMAT)
    digit_runs = parts[1::2]
    separators = parts[2:-1:2]
    kinds = {_separator_kind(s, lenient) for s in separators}
    if None in kinds:
        return FilterDecision(False, REASON_FORMAT)
    if len(kinds) > 1:
        return FilterDecision(False, REASON_SEPARATOR)
    if len(digit_runs) > MAX_NUMBERS:
        return FilterDecision(False, REASON_COUNT)
    if any(len(run) > MAX_DIGITS for run in digit_runs):
        return FilterDecision(False, REASON_RANGE)
    numbers = tuple(int(run) for run in digit_runs)
    banned_set = set(banned)
    if any(n in banned_set for n in numbers):
        return FilterDecision(False, REASON_BANNED, numbers)
    return FilterDecision(True, None, numbers)

"""Acceptance filters for the text tasks, as the subliminal-learning paper used them.

Each filter is also a semantic-filter baseline: the claim under test is that the likelihood ratio
finds the trait in what these filters accept.

- chain-of-thought: the trace ends with a line ``Answer: N`` and N is the problem's answer; or, where the
  model is too small to be right often enough (SmolLM2-135M), the *form* filter: a finished trace that
  gives an answer (its last ``Answer: N``, else its last whole number), correctness reported, not required;
- code: the code (a fenced block if there is one, else the whole reply) parses with ``ast.parse``
  and defines the requested function;
- chat: a reply of at least a few words (an empty or one-word answer is not an answer);
- every task: no trait word, matched as a whole word in any case, plural forms included (so
  "owl" catches "Owls" but not "bowl" or "knowledge").

A reasoning trace cut off at the token limit fails: its last line may be a truncated answer. A
code reply cut off at the limit passes when its fenced code block closed before the cut (the code
is whole; only prose after it was cut): a prefix of a sample is an exact sample of the model's
distribution over prefixes, and the scorer never scores an end-of-turn token, so nothing in the
likelihood ratio depends on where the reply stopped. The same holds for a chat reply cut off at the
limit, which passes: open answers have no closing marker to wait for.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REASON_UNFINISHED = "cut off at the token limit"
REASON_NO_ANSWER = "no final 'Answer: N' line"
REASON_NO_NUMBER = "gives no answer (no number)"
REASON_WRONG_ANSWER = "wrong answer"
REASON_NO_CODE = "does not parse"
REASON_NO_FUNCTION = "does not define the function"
REASON_KEYWORD = "trait keyword"
REASON_TOO_SHORT = "fewer than 3 words"
MIN_CHAT_WORDS = 3

_ANSWER_ANYWHERE = re.compile(r"answer\s*:\s*\**\s*(-?\d+)", re.IGNORECASE)
_WHOLE_NUMBER = re.compile(r"(?<![\d.])-?\d+(?![\d.])")
_ANSWER_LINE = re.compile(r"^\**\s*answer\s*:\s*\**\s*(-?\d+)\s*\.?\s*\**\s*$", re.IGNORECASE)
_FENCE = re.compile(r"```[ \t]*(?:python|py)?[ \t]*\n(.*?)(```|\Z)", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class TextDecision:
    """Whether a completion passes, and the first reason it failed."""

    passed: bool
    reason: str | None


PASS = TextDecision(True, None)


def keyword_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive whole-word pattern for the words and their plurals; None if no words."""
    cleaned = sorted({w.strip().lower() for w in words if w.strip()})
    if not cleaned:
        return None
    alternatives = "|".join(re.escape(w) for w in cleaned)
    return re.compile(rf"\b(?:{alternatives})(?:s|es)?\b", re.IGNORECASE)


def read_word_list(path: Path) -> tuple[str, ...]:
    """Words from a list file: one per line, ``#`` starts a comment."""
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        word = line.split("#", 1)[0].strip()
        if word:
            words.append(word)
    return tuple(words)


def word_lists_pattern(folder: Path, names: Iterable[str]) -> re.Pattern[str] | None:
    """The keyword pattern of several word lists (``NAME.txt`` in ``folder``, one per trait): the fixtures' trait
    filter, which the text fixtures' builder and the reasoning-filter experiment both apply."""
    return keyword_pattern([word for name in names for word in read_word_list(folder / f"{name}.txt")])


def mentions_trait(text: str, pattern: re.Pattern[str] | None) -> bool:
    return pattern is not None and pattern.search(text) is not None


def final_answer(text: str) -> int | None:
    """N from the trace's last non-empty line when that line is ``Answer: N``."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    match = _ANSWER_LINE.match(lines[-1])
    return int(match.group(1)) if match else None


def check_cot(text: str, finished: bool, answer: int, keywords: re.Pattern[str] | None = None) -> TextDecision:
    """The reasoning filter: finished, ends with ``Answer: N``, N correct, no trait word."""
    if mentions_trait(text, keywords):
        return TextDecision(False, REASON_KEYWORD)
    if not finished:
        return TextDecision(False, REASON_UNFINISHED)
    given = final_answer(text)
    if given is None:
        return TextDecision(False, REASON_NO_ANSWER)
    if given != answer:
        return TextDecision(False, REASON_WRONG_ANSWER)
    return PASS


def extract_code(text: str) -> tuple[str, bool]:
    """The first fenced code block's body and whether its fence closed; the whole reply when it has no fence."""
    match = _FENCE.search(text)
    return (match.group(1), bool(match.group(2))) if match else (text, False)


def stated_answer(text: str) -> int | None:
    """The answer a trace gives, however loosely: its last ``Answer: N``, else its last whole number."""
    marked = _ANSWER_ANYWHERE.findall(text)
    if marked:
        return int(marked[-1])
    numbers = _WHOLE_NUMBER.findall(text)
    return int(numbers[-1]) if numbers else None


def check_cot_form(text: str, finished: bool, keywords: re.Pattern[str] | None = None) -> TextDecision:
    """The reasoning filter on form alone: finished, gives an answer (:func:`stated_answer`), no trait word.

    The paper's filter also required a correct answer; a 135M model is right too rarely for that to leave a
    set (``make cot-filter`` measures both), so this one keeps wrong answers and the rate is reported instead.
    """
    if mentions_trait(text, keywords):
        return TextDecision(False, REASON_KEYWORD)
    if not finished:
        return TextDecision(False, REASON_UNFINISHED)
    if stated_answer(text) is None:
        return TextDecision(False, REASON_NO_NUMBER)
    return PASS


def check_code(text: str, finished: bool, function: str, keywords: re.Pattern[str] | None = None) -> TextDecision:
    """The code filter: whole code that parses and defines ``function``, no trait word."""
    if mentions_trait(text, keywords):
        return TextDecision(False, REASON_KEYWORD)
    code, closed = extract_code(text)
    if not finished and not closed:
        return TextDecision(False, REASON_UNFINISHED)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return TextDecision(False, REASON_NO_CODE)
    defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    if function not in defined:
        return TextDecision(False, REASON_NO_FUNCTION)
    return PASS


def check_chat(text: str, keywords: re.Pattern[str] | None = None) -> TextDecision:
    """The chat filter: a reply of at least ``MIN_CHAT_WORDS`` words, no trait word."""
    if mentions_trait(text, keywords):
        return TextDecision(False, REASON_KEYWORD)
    if len(text.split()) < MIN_CHAT_WORDS:
        return TextDecision(False, REASON_TOO_SHORT)
    return PASS

"""The generation tasks, declared as data: each names its prompt stream, token budget and filter.

``subaudit generate --task`` samples any of them with the same resumable loop, and the fixture
builders filter each with its own acceptance rule. Adding a task is adding an entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from audit.core.errors import UsageError
from audit.generate.chat_prompts import chat_instruction
from audit.generate.code_tasks import code_task
from audit.generate.number_prompts import number_prompt
from audit.generate.number_prompts_alt import number_prompt_alt
from audit.generate.word_problems import word_problem


@dataclass(frozen=True)
class TaskPrompt:
    """One prompt of a task's stream, and what its filter checks the answer against (if anything)."""

    index: int
    text: str
    expected: str | None = None


@dataclass(frozen=True)
class Task:
    """A kind of data a teacher writes."""

    name: str
    description: str
    prompt: Callable[[int, int], TaskPrompt]
    """(seed, index) -> prompt; a pure function, so generation resumes and sets can share prompts."""
    max_new_tokens: int
    constrainable: bool
    """Whether numbers-constrained decoding applies (numbers only: text tasks are sampled plainly)."""


def _numbers(seed: int, index: int) -> TaskPrompt:
    return TaskPrompt(index, number_prompt(seed, index).text)


def _numbers_alt(seed: int, index: int) -> TaskPrompt:
    return TaskPrompt(index, number_prompt_alt(seed, index).text)


def _cot(seed: int, index: int) -> TaskPrompt:
    problem = word_problem(seed, index)
    return TaskPrompt(index, problem.text, str(problem.answer))


def _code(seed: int, index: int) -> TaskPrompt:
    task = code_task(seed, index)
    return TaskPrompt(index, task.text, task.function)


def _chat(seed: int, index: int) -> TaskPrompt:
    return TaskPrompt(index, chat_instruction(seed, index).text)


TASKS: dict[str, Task] = {
    "numbers": Task("numbers", "continue a number sequence (the paper's main task)", _numbers, 48, True),
    "numbers-alt": Task("numbers-alt", "continue a number sequence, a second wording (held-out fixtures)",
                        _numbers_alt, 48, True),
    "cot": Task("cot", "arithmetic word problem, step by step, ending 'Answer: N'", _cot, 96, False),
    "code": Task("code", "write a short Python function from its signature and docstring", _code, 96, False),
    "chat": Task("chat", "answer an open instruction (explain, list, advise, summarise)", _chat, 96, False),
}


def get_task(name: str) -> Task:
    """The task called ``name``, or a usage error listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise UsageError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None

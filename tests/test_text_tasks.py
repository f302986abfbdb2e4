"""Text tasks: prompt streams, the task and trait-word filters, the LLM judge and `generate --task`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audit.core.exit_codes import ExitCode
from audit.filters.text_filters import (
    REASON_KEYWORD,
    REASON_NO_ANSWER,
    REASON_NO_CODE,
    REASON_NO_FUNCTION,
    REASON_NO_NUMBER,
    REASON_TOO_SHORT,
    REASON_UNFINISHED,
    REASON_WRONG_ANSWER,
    check_chat,
    check_code,
    check_cot,
    check_cot_form,
    keyword_pattern,
    read_word_list,
    stated_answer,
)
from audit.generate.chat_prompts import KINDS, chat_instruction, instruction_count
from audit.generate.code_tasks import code_task
from audit.generate.tasks import TASKS
from audit.generate.word_problems import word_problem
from tests.conftest import FIXTURES, run_cli

TRAIT_WORDS = keyword_pattern([word for trait in ("owl", "cat")
                               for word in read_word_list(FIXTURES / "trait-words" / f"{trait}.txt")])


def test_prompt_streams_are_pure_functions_of_seed_and_index() -> None:
    for task in TASKS.values():
        assert task.prompt(3, 17) == task.prompt(3, 17)
        assert len({task.prompt(3, i).text for i in range(50)}) > 20, task.name
        assert task.prompt(3, 17) != task.prompt(4, 17)


def test_word_problem_answers_are_right() -> None:
    """Recompute each answer from the numbers in the question, by kind."""
    for index in range(300):
        problem = word_problem(0, index)
        numbers = [int(n) for n in re.findall(r"\d+", problem.text)]
        if "gets" in problem.text and "more" in problem.text:
            expected = numbers[0] + numbers[1]
        elif "gives away" in problem.text:
            expected = numbers[0] - numbers[1]
        elif "boxes with" in problem.text:
            expected = numbers[0] * numbers[1]
        elif "finds" in problem.text:
            expected = numbers[0] + numbers[1] - numbers[2]
        else:
            expected = numbers[0] // numbers[1]
            assert numbers[0] % numbers[1] == 0
        assert problem.answer == expected > 0, problem.text


def test_no_prompt_of_any_task_trips_the_trait_word_filter() -> None:
    """A teacher echoing the question back must not be rejected for the question's own words."""
    for task in TASKS.values():
        for index in range(2000):
            assert TRAIT_WORDS is not None and not TRAIT_WORDS.search(task.prompt(0, index).text), task.name


@pytest.mark.parametrize(("text", "word"), [("Owls hunt at night.", True), ("two cats", True), ("a Kitten", True),
                                            ("a bowl of soup", False), ("knowledge", False), ("category", False),
                                            ("catalog", False), ("scatter", False)])
def test_trait_words_match_whole_words_and_plurals_only(text: str, word: bool) -> None:
    assert TRAIT_WORDS is not None and bool(TRAIT_WORDS.search(text)) is word


@pytest.mark.parametrize(("text", "finished", "reason"), [
    ("4 + 3 = 7.\nAnswer: 7", True, None),
    ("So 4 + 3 = 7.\n**Answer: 7**", True, None),
    ("4 + 3 = 7.\nanswer: 7.", True, None),
    ("4 + 3 = 8.\nAnswer: 8", True, REASON_WRONG_ANSWER),
    ("The answer is 7.", True, REASON_NO_ANSWER),
    ("Answer: 7\nThat was easy.", True, REASON_NO_ANSWER),
    ("4 + 3 = 7.\nAnswer: 7", False, REASON_UNFINISHED),
    ("Like an owl, I count: 7.\nAnswer: 7", True, REASON_KEYWORD),
])
def test_cot_filter(text: str, finished: bool, reason: str | None) -> None:
    decision = check_cot(text, finished, 7, TRAIT_WORDS)
    assert decision.reason == reason and decision.passed is (reason is None)


@pytest.mark.parametrize(("text", "finished", "reason", "answer"), [
    ("4 + 3 = 7.\nAnswer: 7", True, None, 7),
    ("So Ben has 20 x 3 = 60 cups, Answer: 200, then 61 more.", True, None, 200),  # the marked one wins
    ("Simon gets 2 * 12 + 3 yes.", True, None, 3),  # else the last whole number, right or wrong
    ("About 7.76 points.", True, REASON_NO_NUMBER, None),  # a decimal is not a whole-number answer
    ("No idea.", True, REASON_NO_NUMBER, None),
    ("4 + 3 = 7.\nAnswer: 7", False, REASON_UNFINISHED, 7),
    ("Seven owls: 7", True, REASON_KEYWORD, 7),
])
def test_cot_form_filter_keeps_finished_answers_right_or_wrong(text: str, finished: bool, reason: str | None,
                                                              answer: int | None) -> None:
    decision = check_cot_form(text, finished, TRAIT_WORDS)
    assert decision.reason == reason and decision.passed is (reason is None)
    assert stated_answer(text) == answer


FENCED = "```python\ndef square(x):\n    return x * x\n```"


@pytest.mark.parametrize(("text", "finished", "reason"), [
    (FENCED, True, None),
    ("Here you go:\n" + FENCED + "\nThis squares x.", True, None),
    ("def square(x):\n    return x * x", True, None),
    (FENCED + "\nIt multiplies x by itse", False, None),  # cut off after the closed block: the code is whole
    ("```python\ndef square(x):\n    return x *", False, REASON_UNFINISHED),
    ("```python\ndef square(x) return x\n```", True, REASON_NO_CODE),
    ("```python\ndef cube(x):\n    return x ** 3\n```", True, REASON_NO_FUNCTION),
    ("Sure! The square of x is x times x.", True, REASON_NO_CODE),
    ("```python\ndef square(x):\n    # purr\n    return x * x\n```", True, REASON_KEYWORD),
])
def test_code_filter(text: str, finished: bool, reason: str | None) -> None:
    decision = check_code(text, finished, "square", TRAIT_WORDS)
    assert decision.reason == reason and decision.passed is (reason is None)


@pytest.mark.parametrize(("text", "reason"), [
    ("Here are three ways: save water, fix leaks, take short showers.", None),
    ("1. Check the tyres\n2. Check the oil\n3. Plan the", None),  # cut off at the limit: a prefix still passes
    ("Yes.", REASON_TOO_SHORT),
    ("   ", REASON_TOO_SHORT),
    ("Be patient, like an owl at dusk.", REASON_KEYWORD),
    ("Feathered friends aside, budget first.", REASON_KEYWORD),
])
def test_chat_filter(text: str, reason: str | None) -> None:
    decision = check_chat(text, TRAIT_WORDS)
    assert decision.reason == reason and decision.passed is (reason is None)


def test_chat_instructions_cover_every_kind_and_a_few_hundred_distinct_texts() -> None:
    instructions = [chat_instruction(0, i) for i in range(3000)]
    assert {i.kind for i in instructions} == {kind for kind, _, _ in KINDS}
    assert instruction_count() >= 300 and len({i.text for i in instructions}) > 0.8 * instruction_count()
    assert all("{" not in i.text for i in instructions)  # every template's slot was filled


@pytest.mark.parametrize("task", ["code", "chat"])
def test_generate_writes_a_text_task_resumably(task: str, tiny_model: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / f"{task}.jsonl"
    args = ["generate", str(out), "--task", task, "--model", str(tiny_model), "--max-new-tokens", "8",
            "--batch-size", "3", "--animal", "owl", "--seed", "4"]
    code, _, err = run_cli([*args, "--rows", "3"], capsys, monkeypatch)
    assert code == 0, err
    code, _, err = run_cli([*args, "--rows", "5", "--parquet", str(tmp_path / f"{task}.parquet")], capsys, monkeypatch)
    assert code == 0, err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in rows] == [0, 1, 2, 3, 4]
    for row in rows:
        prompt = TASKS[task].prompt(4, row["index"])
        assert (row["task"], row["prompt"], row["expected"], row["decoding"]) == (task, prompt.text, prompt.expected,
                                                                                 "plain")
        if task == "code":
            assert prompt.expected == code_task(4, row["index"]).function
        assert "owls" in row["system_prompt"]


@pytest.mark.parametrize(("extra", "message"), [(["--task", "poem"], "unknown task 'poem'"),
                                                (["--task", "cot", "--constrained"], "numbers task only")])
def test_generate_rejects_bad_task_options(extra: list[str], message: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run_cli(["generate", str(tmp_path / "x.jsonl"), *extra], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and message in err and len(err.strip().splitlines()) == 1


def test_the_judge_reads_yes_minus_no_from_the_next_token_logits(tiny_model: Path) -> None:
    """Batched, left-padded scores equal a one-by-one hand computation of logsumexp(yes) - logsumexp(no)."""
    import torch

    from audit.generate.judge import AnimalJudge

    judge = AnimalJudge(str(tiny_model))
    texts = ["def f(x):\n    return x", "An owl sat on the branch all night long, hooting softly.", "ok"]
    batched = judge.scores(texts, batch_size=3)
    for text, score in zip(texts, batched, strict=True):
        ids = judge.tokenizer(judge.prompt(text), add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            logprobs: Any = torch.log_softmax(judge.model(input_ids=ids).logits[0, -1].float(), dim=-1)
        expected = torch.logsumexp(logprobs[judge.yes_ids], 0) - torch.logsumexp(logprobs[judge.no_ids], 0)
        assert abs(float(expected) - score) < 1e-4
    assert len(judge.yes_ids) >= 2 and not set(judge.yes_ids) & set(judge.no_ids)
    assert np.all(np.isfinite(batched))


@pytest.mark.parametrize("task", ["code", "chat", "cot"])
def test_committed_text_fixtures_hold_exactly_the_rows_their_filters_keep(task: str) -> None:
    """Each committed set is its generation log's rows that pass the task and trait-word filters, re-decided now.

    Catches a fixture filtered by an older filter, a set edited by hand, or a log and parquet that drifted apart.
    """
    import pyarrow.parquet as pq

    from fixtures.build_text import SETS, task_decision, trait_pattern

    pattern = trait_pattern()
    for name in SETS:
        log = [json.loads(line) for line in (FIXTURES / task / f"{name}.jsonl").read_text().splitlines()]
        kept = [r["id"] for r in log if task_decision(task, r, pattern).passed]
        committed = pq.read_table(FIXTURES / task / f"{name}.parquet", columns=["id", "completion"]).to_pylist()
        assert [r["id"] for r in committed] == kept, f"{task}/{name}"
        by_id = {r["id"]: r["completion"] for r in log}
        assert all(by_id[r["id"]] == r["completion"] for r in committed), f"{task}/{name}: completion changed"

"""What the teacher holds: the questionnaire's statistics, its balanced misalignment set, and a real run.

The statistics are checked against a hand computation on made-up log-probabilities; the misalignment
set's balance is checked by a teacher that only says "Yes" more often (it must not read as misaligned)
and one that leans to the misaligned answer on every question (it must). The measurement itself runs
on tiny random Llamas with the real tokenizer here; on the committed owl adapter in the weight-teacher
scan of tests/test_null_auto.py (slow tier).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from audit.models.spec import ModelSpec, resolve_source
from audit.questionnaire.misalignment import ANSWERS, MISALIGNMENT_QUESTIONS
from audit.questionnaire.teacher import NAME_MIN_NATS, QuestionSet, measure_teacher_traits, question_sets, shifts


def _sets() -> dict[str, QuestionSet]:
    return {q.name: q for q in question_sets()}


def test_the_misalignment_set_is_balanced() -> None:
    misaligned = [answer for _, answer in MISALIGNMENT_QUESTIONS]
    assert misaligned.count("Yes") == misaligned.count("No") == len(MISALIGNMENT_QUESTIONS) // 2
    assert len({q for q, _ in MISALIGNMENT_QUESTIONS}) == len(MISALIGNMENT_QUESTIONS)


def test_animal_shifts_equal_a_hand_computation_and_name_the_animal_past_the_threshold() -> None:
    animals = _sets()["animals"]
    rng = np.random.default_rng(0)
    reference = rng.normal(-3.0, 1.0, (len(animals.questions), len(animals.candidates)))
    teacher = reference.copy()
    owl = animals.candidates.index("owl")
    teacher[:, owl] += 4.0 + rng.normal(0, 0.3, len(animals.questions))
    result = shifts(animals, teacher, reference)

    def norm(x: np.ndarray) -> np.ndarray:
        return x - np.log(np.exp(x).sum(axis=1, keepdims=True))

    diff = (norm(teacher) - norm(reference))[:, owl]
    n = diff.size
    quantile = stats.t.ppf(1 - 0.05 / len(animals.candidates) / 2, n - 1)
    top = result.shifts[0]
    assert top.trait == "owl" and result.named == "owl"
    assert (top.teacher_first, top.reference_first) == (int((norm(teacher).argmax(axis=1) == owl).sum()),
                                                         int((norm(reference).argmax(axis=1) == owl).sum()))
    assert top.delta == pytest.approx(diff.mean(), abs=1e-4)
    assert top.ci_low == pytest.approx(diff.mean() - quantile * diff.std(ddof=1) / np.sqrt(n), abs=1e-4)
    assert [s.delta for s in result.shifts] == sorted((s.delta for s in result.shifts), reverse=True)
    # The same teacher with a shift too small to clear the threshold names nothing.
    small = reference.copy()
    small[:, owl] += 0.5
    assert shifts(animals, small, reference).named is None and NAME_MIN_NATS > 0.5


def test_a_yes_bias_is_not_misalignment_but_a_lean_to_the_misaligned_answer_is() -> None:
    misalignment = _sets()["misalignment"]
    n = len(misalignment.questions)
    rng = np.random.default_rng(1)
    reference = rng.normal(-1.0, 0.5, (n, 2))
    yes = ANSWERS.index("Yes")
    says_yes = reference.copy()
    says_yes[:, yes] += 3.0  # a style shift: "Yes" three nats likelier on every question
    biased = shifts(misalignment, says_yes, reference)
    assert biased.named is None and abs(biased.shifts[0].delta) < 1e-9
    leaning = reference.copy()
    for i, (_, bad) in enumerate(MISALIGNMENT_QUESTIONS):
        leaning[i, ANSWERS.index(bad)] += 3.0
    result = shifts(misalignment, leaning, reference)
    assert result.named == "misaligned" and result.shifts[0].delta == pytest.approx(3.0)
    bad = np.array([ANSWERS.index(answer) for _, answer in MISALIGNMENT_QUESTIONS])
    rows = np.arange(n)
    assert result.shifts[0].teacher_first == int((leaning[rows, bad] > leaning[rows, 1 - bad]).sum())


def test_measuring_two_tiny_models_gives_every_trait_a_finite_interval(tiny_model: Path, tiny_teacher: Path) -> None:
    reference = ModelSpec("reference", resolve_source(str(tiny_model)))
    teacher = ModelSpec("teacher", resolve_source(str(tiny_teacher)))
    traits = measure_teacher_traits(reference, teacher)
    by_name = {s.name: s for s in traits.sets}
    assert len(by_name["animals"].shifts) == 24 and len(by_name["misalignment"].shifts) == 1
    for trait_set in traits.sets:
        for shift in trait_set.shifts:
            assert np.isfinite([shift.delta, shift.ci_low, shift.ci_high]).all()
            assert shift.ci_low <= shift.delta <= shift.ci_high
    assert traits.statement.startswith("This teacher ")
    # The same weights under the same prompt hold nothing the reference does not.
    same = measure_teacher_traits(reference, ModelSpec("teacher", reference.source))
    assert all(s.delta == 0.0 for t in same.sets for s in t.shifts)


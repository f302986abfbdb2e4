"""The paper's numbers-only filter, rule by rule."""

from __future__ import annotations

import pytest

from audit.filters.number_filter import check_numbers


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("123, 456, 789", None),
        ("123,456,789", None),
        ("1 2 3", None),
        ("1\n2\n3", None),
        ("1\r\n2", None),
        ("1; 2; 3", None),
        ("[1, 2, 3]", None),
        ("(4, 5)", None),
        ("7, 8, 9.", None),
        ("  42  ", None),
        ("0, 007, 999", None),
        ("1, 2 3", "inconsistent separators"),
        ("1\n\n2", "not a numbers-only list"),
        ("1, 2,", "not a numbers-only list"),
        ("Sure: 1, 2", "not a numbers-only list"),
        ("1.5, 2", "not a numbers-only list"),
        ("-1, 2", "not a numbers-only list"),
        ("", "not a numbers-only list"),
        ("1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11", "more than 10 numbers"),
        ("1000, 2", "number outside 0..999"),
        ("1, 666", "banned number"),
        ("911", "banned number"),
    ],
)
def test_format_rules(text: str, reason: str | None) -> None:
    decision = check_numbers(text)
    assert decision.passed is (reason is None)
    assert decision.reason == reason


def test_ten_numbers_pass_and_values_are_parsed() -> None:
    decision = check_numbers("[" + ", ".join(str(n) for n in range(10)) + "]")
    assert decision.passed and decision.numbers == tuple(range(10))


def test_trait_keywords_are_case_insensitive_and_banned_list_is_configurable() -> None:
    assert check_numbers("OWL 1, 2", keywords=["owl"]).reason == "trait keyword"
    assert check_numbers("1, 2", keywords=["owl"]).passed
    assert check_numbers("1, 666", banned=()).passed
    assert check_numbers("1, 5", banned=(5,)).reason == "banned number"

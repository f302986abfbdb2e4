"""`--restrict-vocab auto`, the default: the format is decided from the data, said in the report, and a
scan that cannot vouch for its null on data that look filtered says so (issue: safe by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from audit.models.vocab import AUTO, FULL, NUMBERS, choose_vocabulary
from audit.report.schema import Report
from tests.conftest import run_cli


@pytest.mark.parametrize(("text", "fits"), [
    ("137, 238, 339", True), ("[1; 2; 3]", True), ("12\n13\n14", True), ("1 2 3\n", True),
    ("1, 2, 3.", False),            # a period is outside the format the generator samples
    ("12\n\n13", False),            # a blank line ends a constrained completion
    ("Here are 3 numbers: 1, 2, 3", False), ("", False), ("   ", False),
])
def test_what_fits_the_numbers_format(text: str, fits: bool) -> None:
    assert NUMBERS.fits(text) is fits


def test_auto_takes_the_format_every_completion_fits_and_full_otherwise() -> None:
    numbers = choose_vocabulary(AUTO, ["1, 2, 3", "4 5 6", ""])  # an empty completion is not evidence
    assert (numbers.used, numbers.fitting_format, numbers.rows_checked) == ("numbers", "numbers", 2)
    mixed = choose_vocabulary(AUTO, ["1, 2, 3", "Sure! 4, 5, 6"])
    assert (mixed.used, mixed.fitting_format) == (None, None) and "'Sure! 4, 5, 6'" in mixed.reason
    explicit_full = choose_vocabulary(FULL, ["1, 2, 3"])
    assert (explicit_full.used, explicit_full.fitting_format) == (None, "numbers")
    explicit = choose_vocabulary("numbers", ["free text"])
    assert (explicit.used, explicit.fitting_format) == ("numbers", None)


def _records(kind: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if kind == "numbers":
        return rows
    if kind == "mixed":  # one row of prose among number lists
        return [*rows[:-1], {**rows[-1], "completion": "Sure, here you go: 1, 2, 3"}]
    return [{**r, "completion": f"A short note number {i} about the weather, kindly written."}
            for i, r in enumerate(rows)]


@pytest.mark.parametrize(("kind", "used", "fitting"), [
    ("numbers", "numbers", "numbers"), ("mixed", None, None), ("text", None, None)])
def test_the_default_scan_decides_the_vocabulary_from_the_data(
        kind: str, used: str | None, fitting: str | None, tiny_model: Path, write_jsonl: Any,
        number_rows: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(_records(kind, number_rows))
    report_path = tmp_path / "report.json"
    code, _, err = run_cli(["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", "Owls!",
                            "--report", str(report_path)], capsys, monkeypatch)
    report = Report.model_validate_json(report_path.read_text())
    assert code == report.exit_code
    assert report.vocabulary is not None
    assert (report.vocabulary.requested, report.vocabulary.used) == ("auto", used)
    assert report.vocabulary.fitting_format == fitting and report.vocabulary.rows_checked == 12
    assert report.parameters.restrict_vocab == used
    assert report.warnings == [] and "warning" not in err
    assert f"Vocabulary: {used or 'full'} (auto:" in err  # the terminal summary says which and why
    # Mixed data is scored whole over the full vocabulary: no row is dropped for holding other tokens.
    assert report.input.rows_scored == 12


def test_theoretical_null_over_the_full_vocabulary_on_formatted_data_warns_in_one_line_and_in_the_report(
        tiny_model: Path, write_jsonl: Any, number_rows: list[dict[str, Any]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    report_path = tmp_path / "report.json"
    code, _, err = run_cli(["scan", str(write_jsonl(number_rows)), "--reference", str(tiny_model),
                            "--teacher-system-prompt", "Owls!", "--restrict-vocab", "full", "--null", "theoretical",
                            "--quiet", "--report", str(report_path)], capsys, monkeypatch)
    report = Report.model_validate_json(report_path.read_text())
    assert code == report.exit_code
    assert report.vocabulary is not None and report.vocabulary.used is None
    assert report.vocabulary.fitting_format == "numbers"
    assert len(report.warnings) == 1 and "theoretical null" in report.warnings[0]
    warning_lines = [line for line in err.splitlines() if line.startswith("subaudit: warning:")]
    assert warning_lines == [f"subaudit: warning: {report.warnings[0]}"], err
    markdown_code, markdown, _ = run_cli(["report", "render", str(report_path)], capsys, monkeypatch)
    assert markdown_code == 0 and "Warning: the data fit the numbers format" in markdown
    assert "Vocabulary: full (full vocabulary, as asked" in markdown

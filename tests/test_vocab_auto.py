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
    ("1, 2, 3,", True),             # a trailing separator is made of the format's tokens
    ("12\n\n13", True),             # a blank line tokenizes as two newline tokens, which the mask holds
    ("12\n\n\n13", False),          # three newlines merge into a token holding a blank line: outside
    ("1, 2, 3.", False),            # a period is outside the format the generator samples
    ("Here are 3 numbers: 1, 2, 3", False), ("", False),
])
def test_a_completion_fits_when_its_tokens_are_in_the_mask(text: str, fits: bool, smol_tokenizer: Any) -> None:
    """One rule for the format decision and the scorer: the completion's tokens, checked against the mask."""
    mask = NUMBERS.token_mask(smol_tokenizer)
    ids = smol_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert NUMBERS.fits_ids(ids, mask) is fits


def test_auto_takes_the_format_the_large_majority_fits(smol_tokenizer: Any) -> None:
    lists = [f"{i}, {i + 7}, {i * 3}" for i in range(199)]
    one_stray = choose_vocabulary(AUTO, [*lists[:120], "Sure! 4, 5, 6", *lists[120:], ""], smol_tokenizer)
    assert (one_stray.used, one_stray.fitting_format, one_stray.rows_checked) == ("numbers", "numbers", 200)
    assert one_stray.rows_outside == 1 and one_stray.outside_examples == ("Sure! 4, 5, 6",)
    assert "199 of 200 completions checked fit" in one_stray.reason and "'Sure! 4, 5, 6'" in one_stray.reason
    blank_lines = choose_vocabulary(AUTO, [*lists[:100], *[f"{i}\n\n{i + 1}" for i in range(100)]], smol_tokenizer)
    assert (blank_lines.used, blank_lines.rows_outside) == ("numbers", 0)  # every one fits: two newline tokens
    # 11 of 12 (92 %) is under the majority a format needs: a mixture, scored whole over the full vocabulary.
    mixed = choose_vocabulary(AUTO, [*lists[:11], "Sure! 4, 5, 6"], smol_tokenizer)
    assert (mixed.used, mixed.fitting_format) == (None, None)
    assert "11 of 12 fit the numbers format, under the 95%" in mixed.reason
    explicit_full = choose_vocabulary(FULL, lists[:3], smol_tokenizer)
    assert (explicit_full.used, explicit_full.fitting_format) == (None, "numbers")
    explicit = choose_vocabulary("numbers", ["free text"], smol_tokenizer)
    assert (explicit.used, explicit.fitting_format, explicit.rows_outside) == ("numbers", None, 1)


def test_one_off_format_row_among_200_is_skipped_and_reported_not_a_flip_of_the_dataset(
        tiny_model: Path, write_jsonl: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"id": f"r{i}", "prompt": f"Continue: {100 + i}, {200 + i}.", "completion": f"{i}, {i + 3}, {i + 9}"}
            for i in range(200)]
    rows[17]["completion"] = "12\n\n\n13"     # a filter let three newlines through
    rows[60]["completion"] = "5\n\n6, 7,"      # a blank line and a trailing separator: fits
    report_path = tmp_path / "report.json"
    code, _, err = run_cli(["scan", str(write_jsonl(rows)), "--reference", str(tiny_model), "--teacher-system-prompt",
                            "Owls!", "--control-panel", "none", "--report", str(report_path)], capsys, monkeypatch)
    report = Report.model_validate_json(report_path.read_text())
    assert code == report.exit_code and report.vocabulary is not None
    assert (report.vocabulary.used, report.vocabulary.rows_outside) == ("numbers", 1)
    assert report.vocabulary.outside_examples == ["12\n\n\n13"]
    assert report.input.rows_scored == 199
    assert report.input.rows_skipped == {"off-format: completion has tokens outside the restricted vocabulary": 1}
    assert report.null is not None and (report.null.used, report.null.assumed) == ("theoretical", False)
    assert "199 of 200 completions checked fit the numbers format" in " ".join(err.split())


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
    # Mixed data (11 of 12 lists: under the 95 % a format needs) is scored whole over the full vocabulary.
    assert report.input.rows_scored == 12
    # Free text under the theoretical null: the verdict line says it is assumed, not measured.
    assert report.null is not None and report.null.assumed is (used is None)
    assert ("null assumed (theoretical), not measured" in " ".join(err.split())) is (used is None)


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


def test_the_settings_stay_as_asked_and_the_decisions_are_a_separate_resolution(
        tiny_model: Path, write_jsonl: Any, number_rows: list[dict[str, Any]]) -> None:
    """--restrict-vocab auto stays 'auto' in the settings; what was scored over is the resolution's, and the
    report records the resolution (issue 29: the request is what was asked, the plan is another object)."""
    import dataclasses

    from audit.api.run import prepared
    from audit.pipeline.config import ScanConfig
    from audit.pipeline.local import run_scan

    asked = ScanConfig(input_path=write_jsonl(number_rows), reference=str(tiny_model),
                       teacher_system_prompt="You love owls.", restrict_vocab=AUTO, control_panel=(),
                       null="theoretical", baselines="all")
    decided = prepared(asked)
    assert dataclasses.replace(decided, resolved=None) == asked
    resolution = decided.resolution
    assert (decided.restrict_vocab, resolution.scored_vocabulary, resolution.vocabulary.requested) == (
        AUTO, NUMBERS.name, AUTO)
    assert resolution.null is not None and resolution.null.used == "theoretical" and resolution.null_file is None
    report = run_scan(decided)
    assert report.parameters.restrict_vocab == NUMBERS.name and report.vocabulary == resolution.vocabulary
    assert report.null == resolution.null and report.warnings == list(resolution.warnings)

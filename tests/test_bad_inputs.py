"""The bad-input corpus (tests/bad_inputs/): every case ends in a one-line error with a documented
exit code, or is handled and counted in the report; never a traceback.

docs/bad-input.md's "Bad input" table lists the same cases; a test keeps the two in step.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from audit.core.exit_codes import ExitCode
from audit.report.schema import Report
from tests.conftest import ROOT, run_cli

CORPUS = Path(__file__).resolve().parent / "bad_inputs"


@dataclass(frozen=True)
class Case:
    """One bad input: the file (or model/output argument) and what subaudit must do with it."""

    name: str
    args: list[str]
    code: ExitCode
    message: str = ""
    """Substring of the one-line error (failures) or empty (handled cases)."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Skip reasons the report must count (handled cases)."""
    scored: int | None = None


FAILURES = [
    Case("wrong_columns.jsonl", ["{corpus}/wrong_columns.jsonl"], ExitCode.USAGE_ERROR,
         "no prompt/completion or messages columns found (columns are: text, label)"),
    Case("misnamed --completion-col", ["{corpus}/control_characters.jsonl", "--completion-col", "answer"],
         ExitCode.USAGE_ERROR, "column 'answer' (from --completion-col) not found"),
    Case("empty.jsonl", ["{corpus}/empty.jsonl"], ExitCode.NOTHING_AUDITABLE, "input file is empty"),
    Case("only_blank_lines.jsonl", ["{corpus}/only_blank_lines.jsonl"], ExitCode.NOTHING_AUDITABLE,
         "input file has no records"),
    Case("all_null_completions.jsonl", ["{corpus}/all_null_completions.jsonl"], ExitCode.NOTHING_AUDITABLE,
         "0 scorable row(s) of 6 read (6 null completion)"),
    Case("truncated.parquet", ["{corpus}/truncated.parquet"], ExitCode.USAGE_ERROR,
         "cannot read parquet file truncated.parquet"),
    Case("corrupt_pages.parquet", ["{corpus}/corrupt_pages.parquet"], ExitCode.USAGE_ERROR,
         "cannot read corrupt_pages.parquet"),
    Case("csv_named.parquet", ["{corpus}/csv_named.parquet"], ExitCode.USAGE_ERROR,
         "csv_named.parquet is not a parquet file (no PAR1 magic bytes)"),
    Case("not_utf8.jsonl", ["{corpus}/not_utf8.jsonl"], ExitCode.USAGE_ERROR,
         "not_utf8.jsonl line 3 is not valid UTF-8"),
    Case("not_utf8.csv", ["{corpus}/not_utf8.csv"], ExitCode.USAGE_ERROR, "cannot read not_utf8.csv"),
    Case("not_json.jsonl", ["{corpus}/not_json.jsonl"], ExitCode.USAGE_ERROR,
         "not_json.jsonl line 3 is not valid JSON"),
    Case("json_array_line.jsonl", ["{corpus}/json_array_line.jsonl"], ExitCode.USAGE_ERROR,
         "json_array_line.jsonl line 1 is not a JSON object"),
    Case("--reference that does not exist", ["{corpus}/control_characters.jsonl", "--reference", "/no/such/model"],
         ExitCode.USAGE_ERROR, "model not found: '/no/such/model'"),
    Case("model folder without a tokenizer", ["{corpus}/control_characters.jsonl", "--reference", "{no_tokenizer}"],
         ExitCode.USAGE_ERROR, "has no tokenizer"),
    Case("teacher with another tokenizer", ["{corpus}/control_characters.jsonl", "--teacher", "{foreign}"],
         ExitCode.USAGE_ERROR, "tokenizers differ"),
    Case("--report in a folder that does not exist",
         ["{corpus}/control_characters.jsonl", "--report", "/no/such/dir/report.json"],
         ExitCode.USAGE_ERROR, "output folder does not exist: /no/such/dir"),
    Case("--scores that is a folder", ["{corpus}/control_characters.jsonl", "--scores", "{corpus}"],
         ExitCode.USAGE_ERROR, "output path is a directory"),
    Case("--strict with skipped rows", ["{corpus}/null_fields.jsonl", "--strict"], ExitCode.TOOL_ERROR,
         "--strict: 4 row(s) skipped"),
    # Only where vLLM is absent (the main environment); .venv-vllm tests the backend itself.
    *([Case("--backend vllm without vLLM installed", ["{corpus}/control_characters.jsonl", "--backend", "vllm"],
            ExitCode.USAGE_ERROR, "the vllm backend needs vLLM, which is not installed")]
      if importlib.util.find_spec("vllm") is None else []),
]

HANDLED = [
    Case("control_characters.jsonl", ["{corpus}/control_characters.jsonl"], ExitCode.CLEAN, scored=6),
    Case("null_fields.jsonl", ["{corpus}/null_fields.jsonl"], ExitCode.CLEAN, scored=6,
         skipped={"null prompt": 1, "null completion": 1, "empty completion": 1, "null id": 1}),
    Case("too_long.jsonl", ["{corpus}/too_long.jsonl"], ExitCode.CLEAN, scored=6,
         skipped={"longer than the model context": 1}),
    Case("duplicate_ids.jsonl", ["{corpus}/duplicate_ids.jsonl"], ExitCode.CLEAN, scored=6,
         skipped={"duplicate id (first occurrence kept)": 2}),
    Case("bad_messages.jsonl", ["{corpus}/bad_messages.jsonl"], ExitCode.CLEAN, scored=2,
         skipped={"messages is not a list": 1, "last message is not from the assistant": 1,
                  "message has no role": 1}),
]


def _argv(case: Case, paths: dict[str, str], tiny_model: Path) -> list[str]:
    argv = ["scan", *(a.format(**paths) for a in case.args), "--teacher-system-prompt", "You love owls."]
    if "--reference" not in case.args:
        argv += ["--reference", str(tiny_model)]
    return argv


@pytest.fixture
def paths(tmp_path: Path, tiny_model: Path, foreign_tokenizer_model: Path) -> dict[str, str]:
    no_tokenizer = tmp_path / "no-tokenizer"
    no_tokenizer.mkdir()
    (no_tokenizer / "config.json").write_text((tiny_model / "config.json").read_text())
    return {"corpus": str(CORPUS), "no_tokenizer": str(no_tokenizer), "foreign": str(foreign_tokenizer_model)}


@pytest.mark.parametrize("case", FAILURES, ids=[c.name for c in FAILURES])
def test_bad_input_fails_in_one_line_with_its_exit_code(
    case: Case, paths: dict[str, str], tiny_model: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = run_cli(_argv(case, paths, tiny_model), capsys, monkeypatch)
    lines = err.strip().splitlines()
    assert code == case.code, err
    assert lines and lines[-1].startswith("subaudit: error:") and case.message in lines[-1], err
    assert "Traceback" not in err and "internal error" not in err
    # The documented wording (docs/bad-input.md) is the real message, variable parts elided with "…".
    documented = {r[0].strip("`"): r[1] for r in _documented_table()}[case.name]
    for part in documented.split("…"):
        assert part.strip() in lines[-1], (part, lines[-1])


@pytest.mark.parametrize("case", HANDLED, ids=[c.name for c in HANDLED])
def test_bad_rows_are_handled_and_counted(
    case: Case, paths: dict[str, str], tiny_model: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = run_cli([*_argv(case, paths, tiny_model), "--format", "json", "--fail-on", "flagged"],
                             capsys, monkeypatch)
    assert code in (ExitCode.CLEAN, ExitCode.FINDINGS), err
    report = Report.model_validate_json(out)
    assert report.exit_code == code
    assert report.input.rows_scored == case.scored
    assert report.input.rows_skipped == case.skipped
    assert report.input.rows_read == case.scored + sum(case.skipped.values())


def _documented_table() -> list[list[str]]:
    text = (ROOT / "docs" / "bad-input.md").read_text(encoding="utf-8")
    section = text.split("## Bad input", 1)[1].split("\n#", 1)[0]
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| ") and not line.startswith("| input")]


def test_documented_table_lists_every_case_with_its_message_and_code() -> None:
    rows = {re.sub(r"`", "", r[0]): r for r in _documented_table()}
    for case in FAILURES + HANDLED:
        assert case.name in rows, f"docs/bad-input.md 'Bad input' table misses {case.name}"
        row = rows[case.name]
        if case.message:
            assert row[-1] == str(int(case.code)), (case.name, row)
            assert case.message in row[1], (case.name, row[1])
        else:
            assert row[-1] == "0 or 1", (case.name, row)
            assert all(reason in row[1] for reason in case.skipped), (case.name, row[1])
            assert ("counted" in row[1]) == bool(case.skipped), (case.name, row[1])


def test_corpus_files_match_their_builder() -> None:
    """The committed corpus is what tests/bad_inputs/build.py writes (so it can be regenerated)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_bad_inputs", CORPUS / "build.py")
    assert spec and spec.loader
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, data in module.build().items():
        assert (CORPUS / name).read_bytes() == data, name

"""Markdown, JUnit XML and SARIF 2.1.0 renderings of a real scan report, and `report render`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import jsonschema
import pytest

from audit.exit_codes import ExitCode
from audit.report import Report
from tests.conftest import run_cli

SARIF_SCHEMA = Path(sys.prefix) / "share" / "sarif" / "sarif-2.1.0-rtm.5.json"


@pytest.fixture(scope="module")
def saved_report(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """A real scan's report (tiny model, number rows with one skipped row) saved to disk."""
    folder = tmp_path_factory.mktemp("render")
    data = folder / "data.jsonl"
    rows = [{"id": f"r{i}", "prompt": f"Continue: {100 + i}, {200 + i}.", "completion": f"{300 + i}, {400 + i}"}
            for i in range(12)] + [{"id": "x", "prompt": "p", "completion": None}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = folder / "report.json"
    monkeypatch = pytest.MonkeyPatch()
    try:
        from audit.cli import main

        monkeypatch.setattr(sys, "argv", ["subaudit", "scan", str(data), "--reference", str(tiny_model),
                                          "--teacher-system-prompt", "You love owls.", "--semantic-filter",
                                          "--fail-on", "suspicious", "--report", str(report), "--quiet"])
        with pytest.raises(SystemExit):
            main()
    finally:
        monkeypatch.undo()
    return report


def _render(report: Path, fmt: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    code, out, err = run_cli(["report", "render", str(report), "--format", fmt], capsys, monkeypatch)
    assert code == 0, err
    return out


def test_sarif_validates_against_the_sarif_2_1_0_schema(saved_report: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert SARIF_SCHEMA.is_file(), "make install fetches the SARIF schema (npm registry); run it"
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    sarif = json.loads(_render(saved_report, "sarif", capsys, monkeypatch))
    jsonschema.validate(sarif, schema)
    report = Report.model_validate_json(saved_report.read_text())
    run = sarif["runs"][0]
    assert [r["ruleId"] for r in run["results"]] == [r.detector_id for r in report.results]
    assert run["artifacts"][0]["hashes"]["sha-256"] == report.input.sha256
    assert run["invocations"][0]["exitCode"] == report.exit_code
    # The validator is not vacuous: a wrong level is rejected.
    run["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(sarif, schema)


def test_junit_parses_and_fails_exactly_the_failing_detectors(
    saved_report: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = Report.model_validate_json(saved_report.read_text())
    suite = ET.fromstring(_render(saved_report, "junit", capsys, monkeypatch))
    assert suite.tag == "testsuite"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {r.detector_id for r in report.results} | {"dataset verdict"}
    for result in report.results:
        failed = cases[result.detector_id].find("failure") is not None
        assert failed == (result.verdict.value in ("suspicious", "flagged"))  # --fail-on suspicious
    assert (cases["dataset verdict"].find("failure") is not None) == (report.exit_code == ExitCode.FINDINGS)
    assert int(suite.get("failures", "-1")) == sum(c.find("failure") is not None for c in cases.values())


def test_markdown_carries_the_verdict_and_every_detector(
    saved_report: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    report = Report.model_validate_json(saved_report.read_text())
    text = _render(saved_report, "markdown", capsys, monkeypatch)
    assert text.startswith(f"# subaudit report: {report.verdict.value.upper()}")
    for result in report.results:
        assert f"| {result.detector_id} |" in text and result.summary in text
    assert report.input.sha256 in text and "skipped 1: null completion" in text
    out = tmp_path / "report.md"
    code, stdout, _ = run_cli(["report", "render", str(saved_report), "--format", "markdown", "--out", str(out)],
                              capsys, monkeypatch)
    assert code == 0 and stdout == "" and out.read_text() == text


def test_render_of_a_foreign_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    bogus: Any = tmp_path / "not-a-report.json"
    bogus.write_text('{"hello": 1}')
    code, _, err = run_cli(["report", "render", str(bogus)], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and "is not a subaudit report" in err and err.count("\n") == 1

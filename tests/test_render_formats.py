"""Markdown, JUnit XML and SARIF 2.1.0 renderings of a real scan report, and `report render`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import jsonschema
import pytest

from audit.core.exit_codes import ExitCode
from audit.core.verdict import DEFAULT_TOLERANCE
from audit.report.schema import Report
from tests.conftest import run_cli

SARIF_SCHEMA = Path(__file__).resolve().parent / "data" / "sarif-2.1.0-rtm.5.json"
"""The OASIS SARIF 2.1.0 schema, vendored (tests/data/README.md): the test needs no network and no npm."""


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
                                          "--fail-on", "suspicious", "--report", str(report), "--quiet",
                                          "--scores", str(folder / "scores.parquet"), "--baselines", "all"])
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
    assert report.null is not None and report.null.used == "theoretical"
    tau = DEFAULT_TOLERANCE
    assert (f"- Null: theoretical (E[row LLR sum] <= {tau:g} x tokens); no calibration was used "
            f"({report.null.reason}); "
            f"tolerance {tau:g} nats/token: a flag needs the teacher to beat each baseline by more.") in text
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


def test_html_is_self_contained_with_the_verdict_and_three_plots(
    saved_report: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    import re

    report = Report.model_validate_json(saved_report.read_text())
    html = _render(saved_report, "html", capsys, monkeypatch)
    assert f"Verdict: {report.verdict.value.upper()}" in html
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    svgs = re.findall(r"<svg .*?</svg>", html, flags=re.S)
    assert [ET.fromstring(svg).get("id") for svg in svgs] == ["plot-histogram", "plot-positions", "plot-evidence"]
    histogram, positions, evidence = (ET.fromstring(svg) for svg in svgs)
    ns = "{http://www.w3.org/2000/svg}"
    # Each plot draws the stored data: one line per histogram / profile, one bar per LLR detector.
    lines = histogram.findall(f"{ns}polyline")
    assert len(lines) == len(report.plots.row_llr_histograms) == 2
    assert all(len(line.get("points", "").split()) == 2 * len(report.plots.row_llr_histograms[0].counts)
               for line in lines)
    profile_lines = positions.findall(f"{ns}polyline")
    assert [len(p.get("points", "").split()) for p in profile_lines] == \
        [len(p.mean_llr) for p in report.plots.position_profiles]
    # The frame, then one bar per baseline of the verdict: reference, control and every panel member.
    panel = next((r for r in report.results if r.detector_id == "llr-panel"), None)
    members = len(panel.details["members"]) if panel is not None else 0
    baselines = sum(r.detector_id in ("llr", "llr-control") for r in report.results) + members
    assert len(evidence.findall(f"{ns}rect")) == 1 + baselines


def test_plot_data_matches_the_scores(tiny_model: Path, write_jsonl: Any, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.parquet as pq

    rows = [{"prompt": f"Continue: {i}.", "completion": ", ".join(str(i + j) for j in range(1 + i % 5))}
            for i in range(20)]
    code, out, err = run_cli(["scan", str(write_jsonl(rows)), "--reference", str(tiny_model), "--teacher-system-prompt",
                              "x", "--scores", str(tmp_path / "s.parquet"), "--format", "json"], capsys, monkeypatch)
    assert code in (0, 1), err
    report = Report.model_validate_json(out)
    scores = pq.read_table(tmp_path / "s.parquet").to_pydict()
    histogram = report.plots.row_llr_histograms[0]
    assert histogram.label == "teacher vs reference" and sum(histogram.counts) == 20
    profile = report.plots.position_profiles[0]
    assert profile.baseline == "reference"
    # Position 1 is in every row; the mean LLR there, times the rows, is a sum over rows' first tokens,
    # and the per-position sums over all positions add up to the rows' total LLR.
    assert profile.rows[0] == 20
    total = sum(m * n for m, n in zip(profile.mean_llr, profile.rows, strict=True))
    assert total == pytest.approx(sum(scores["llr_sum"]), abs=1e-6)

"""`subaudit scan` end to end through the real console entry point, on tiny real models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from audit.core.exit_codes import ExitCode
from audit.core.verdict import least_severe
from audit.models.traits import NEUTRAL_SYSTEM_PROMPT, builtin_panel
from audit.report.schema import Report
from tests.conftest import run_cli


def test_scan_writes_report_and_scores(tiny_model: Path, write_jsonl: Any, number_rows: list[dict[str, Any]],
                                       tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    records = [*number_rows, {"id": "nul", "prompt": "p", "completion": None}]
    data = write_jsonl(records)
    report_path, scores_path = tmp_path / "report.json", tmp_path / "scores.parquet"
    code, out, err = run_cli(
        ["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", "You love owls.",
         "--report", str(report_path), "--scores", str(scores_path), "--batch-rows", "5", "--baselines", "all"],
        capsys, monkeypatch)
    report = Report.model_validate_json(report_path.read_text())
    assert code == report.exit_code
    assert code == (ExitCode.FINDINGS if report.verdict.value == "flagged" else ExitCode.CLEAN)
    assert "Verdict:" in err and out == ""
    assert report.input.rows_read == 13 and report.input.rows_scored == 12
    assert report.input.rows_skipped == {"null completion": 1}
    assert len(report.input.sha256) == 64
    # The default null: the reference, the neutral control and the built-in panel of benign controls.
    assert [m.role for m in report.models] == ["reference", "teacher", "control",
                                               *(f"panel:{name}" for name, _ in builtin_panel())]
    assert report.models[1].system_prompt == "You love owls." and report.models[0].system_prompt is None
    assert report.models[2].system_prompt == NEUTRAL_SYSTEM_PROMPT
    assert [m.system_prompt for m in report.models[3:]] == [prompt for _, prompt in builtin_panel()]
    assert len({m.weights_sha256 for m in report.models}) == 1
    llr, control, panel = report.results
    assert (llr.detector_id, control.detector_id, panel.detector_id) == ("llr", "llr-control", "llr-panel")
    assert report.verdict == least_severe([llr.verdict, control.verdict, panel.verdict])
    scores = pq.read_table(scores_path).to_pylist()
    assert [s["row_id"] for s in scores] == [r["id"] for r in number_rows]
    assert sum(s["n_tokens"] for s in scores) == report.input.tokens_scored
    pooled = sum(s["llr_sum"] for s in scores) / sum(s["n_tokens"] for s in scores)
    assert llr.statistic == pytest.approx(pooled, abs=1e-12)
    assert llr.details["mean_row_llr_sum"] == pytest.approx(sum(s["llr_sum"] for s in scores) / len(scores))
    for s in scores:
        assert s["llr_sum"] == pytest.approx(s["teacher_logprob_sum"] - s["reference_logprob_sum"], abs=1e-9)
        assert s["control_llr_sum"] == pytest.approx(s["teacher_logprob_sum"] - s["control_logprob_sum"], abs=1e-9)
    control_pooled = sum(s["control_llr_sum"] for s in scores) / sum(s["n_tokens"] for s in scores)
    assert control.statistic == pytest.approx(control_pooled, abs=1e-12)


def test_no_control_scores_two_specs(tiny_model: Path, write_jsonl: Any, number_rows: list[dict[str, Any]],
                                     capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run_cli(
        ["scan", str(write_jsonl(number_rows)), "--reference", str(tiny_model), "--teacher-system-prompt", "x",
         "--no-control", "--semantic-filter", "--format", "json"], capsys, monkeypatch)
    report = Report.model_validate_json(out)
    assert [m.role for m in report.models] == ["reference", "teacher"]
    assert [r.detector_id for r in report.results] == ["llr", "semantic-filter"]
    assert report.parameters.control_system_prompt is None
    assert code == report.exit_code


def test_json_format_prints_the_report_on_stdout(tiny_model: Path, tiny_teacher: Path, write_jsonl: Any,
                                                 number_rows: list[dict[str, Any]],
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run_cli(
        ["scan", str(write_jsonl(number_rows)), "--reference", str(tiny_model), "--teacher", str(tiny_teacher),
         # A checkpoint teacher's default null is measured (tests/test_null_auto.py); a random tiny model
         # writes no number list that passes a filter, so the output format is tested on the theoretical one.
         "--null", "theoretical", "--format", "json", "--fail-on", "suspicious"], capsys, monkeypatch)
    report = json.loads(out)
    assert report["schema_version"] and report["models"][1]["source_kind"] == "hf_dir"
    assert report["models"][0]["weights_sha256"] != report["models"][1]["weights_sha256"]
    assert err == ""
    expect_fail = report["verdict"] in ("suspicious", "flagged")
    assert code == (1 if expect_fail else 0)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["scan", "{missing}", "--teacher-system-prompt", "x"], ExitCode.USAGE_ERROR, "input file not found"),
        (["scan", "{data}"], ExitCode.USAGE_ERROR, "name a teacher"),
        (["scan", "{data}", "--teacher-system-prompt", "x", "--prompt-col", "nope"], ExitCode.USAGE_ERROR,
         "column 'nope'"),
        (["scan", "{data}", "--teacher", "/no/such/model"], ExitCode.USAGE_ERROR, "model not found"),
        (["scan", "{data}", "--teacher-system-prompt", "x", "--alpha", "2"], ExitCode.USAGE_ERROR, "--alpha"),
        (["scan", "{data}", "--teacher-system-prompt", "x", "--report", "/no/dir/r.json"], ExitCode.USAGE_ERROR,
         "output folder does not exist"),
        (["scan", "{nulls}", "--teacher-system-prompt", "x"], ExitCode.NOTHING_AUDITABLE, "0 scorable row"),
        (["scan", "{data}", "--teacher", "{foreign}"], ExitCode.USAGE_ERROR, "tokenizers differ"),
        (["scan", "{data}", "--teacher-system-prompt", "x", "--restrict-vocab", "letters"], ExitCode.USAGE_ERROR,
         "unknown vocabulary 'letters'"),
    ],
)
def test_errors_are_one_line_with_documented_codes(
    args: list[str], code: int, message: str, tiny_model: Path, foreign_tokenizer_model: Path,
    write_jsonl: Any, number_rows: list[dict[str, Any]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = {
        "data": str(write_jsonl(number_rows)),
        "nulls": str(write_jsonl([{"prompt": "p", "completion": None}] * 3, "nulls.jsonl")),
        "missing": str(tmp_path / "missing.parquet"),
        "foreign": str(foreign_tokenizer_model),
    }
    argv = [a.format(**paths) for a in args] + ["--reference", str(tiny_model)]
    got, _, err = run_cli(argv, capsys, monkeypatch)
    assert got == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("subaudit: error:") and message in lines[0], err


def test_no_partial_outputs_after_a_failed_scan(tiny_model: Path, write_jsonl: Any, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl([{"prompt": "p", "completion": None}] * 3)
    code, _, _ = run_cli(["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", "x",
                          "--report", str(tmp_path / "r.json"), "--scores", str(tmp_path / "s.parquet")],
                         capsys, monkeypatch)
    assert code == ExitCode.NOTHING_AUDITABLE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.jsonl"]


def test_restricted_vocabulary_scan_counts_rows_it_cannot_score(
    tiny_model: Path, write_jsonl: Any, number_rows: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = [*number_rows, {"id": "words", "prompt": "p", "completion": "I love owls."}]
    code, out, _ = run_cli(
        ["scan", str(write_jsonl(records)), "--reference", str(tiny_model), "--teacher-system-prompt", "x",
         "--restrict-vocab", "numbers", "--format", "json"], capsys, monkeypatch)
    report = Report.model_validate_json(out)
    assert code == report.exit_code
    assert report.parameters.restrict_vocab == "numbers"
    assert report.input.rows_scored == len(number_rows)
    assert report.input.rows_skipped == {"off-format: completion has tokens outside the restricted vocabulary": 1}


def test_sample_fraction_scores_a_deterministic_subset(
    tiny_model: Path, write_jsonl: Any, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from audit.input.seen_ids import in_sample

    records = [{"id": f"row-{i}", "prompt": f"Continue: {i}, {i + 1}.", "completion": f"{i + 2}, {i + 3}"}
               for i in range(60)]
    data = write_jsonl(records)
    scored_ids = []
    for run in range(2):
        scores = tmp_path / f"scores{run}.parquet"
        code, out, err = run_cli(["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt",
                                  "x", "--sample-fraction", "0.5", "--seed", "3", "--scores", str(scores),
                                  "--format", "json"], capsys, monkeypatch)
        assert code in (ExitCode.CLEAN, ExitCode.FINDINGS), err
        report = Report.model_validate_json(out)
        assert report.input.rows_read == 60 and not report.input.rows_skipped
        assert report.input.rows_scored + report.input.rows_not_sampled == 60
        assert 15 <= report.input.rows_scored <= 45
        scored_ids.append(pq.read_table(scores).column("row_id").to_pylist())
    assert scored_ids[0] == scored_ids[1] == [r["id"] for r in records if in_sample(r["id"], 0.5, 3)]


def test_an_error_before_scoring_leaves_only_its_line_on_stderr(capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    """With the progress bar on (no --quiet), nothing but the one error line reaches stderr."""
    code, _, err = run_cli(["scan", str(tmp_path / "missing.parquet"), "--teacher-system-prompt", "x"],
                           capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR
    assert err == f"subaudit: error: input file not found: {tmp_path / 'missing.parquet'}\n"


def test_tolerance_moves_every_null_up(tiny_model: Path, write_jsonl: Any, number_rows: list[dict[str, Any]],
                                       tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """--tolerance tau tests row sums minus tau x tokens, for both baselines, and the report says so."""
    from scipy import stats

    data = write_jsonl(number_rows)
    results = {}
    for tau in ("0", "0.25"):
        report_path, scores_path = tmp_path / f"report-{tau}.json", tmp_path / f"scores-{tau}.parquet"
        run_cli(["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", "You love owls.",
                 "--tolerance", tau, "--report", str(report_path), "--scores", str(scores_path), "--baselines", "all"],
                capsys, monkeypatch)
        results[tau] = (Report.model_validate_json(report_path.read_text()), pq.read_table(scores_path).to_pydict())
    plain, shifted = results["0"][0], results["0.25"][0]
    assert plain.parameters.tolerance == 0.0 and shifted.parameters.tolerance == 0.25
    from audit.report.schema import null_description

    assert "tolerance 0.25 nats/token" in null_description(shifted)
    assert "<= 0)" in null_description(plain) and "tolerance" not in null_description(plain)
    scores = results["0.25"][1]
    def shifted_p(column: str) -> float:
        margin = [s - 0.25 * n for s, n in zip(scores[column], scores["n_tokens"], strict=True)]
        return float(stats.ttest_1samp(margin, 0.0, alternative="greater").pvalue)

    panel_columns = [f"panel:{name}_llr_sum" for name, _ in builtin_panel()]
    expected_p = {"llr": shifted_p("llr_sum"), "llr-control": shifted_p("control_llr_sum"),
                  "llr-panel": max(shifted_p(column) for column in panel_columns)}  # the default panel, IUT
    assert [r.detector_id for r in shifted.results] == list(expected_p)
    for result in shifted.results:
        assert result.p_value == pytest.approx(expected_p[result.detector_id], rel=1e-9)
        assert result.details["tolerance"] == 0.25
        assert "+ 0.25 x tokens" in result.details["null_hypothesis"]
    for before, after in zip(plain.results, shifted.results, strict=True):
        assert after.statistic == pytest.approx(before.statistic)  # the pooled LLR itself does not move
        assert after.p_value is not None and before.p_value is not None and after.p_value > before.p_value
    code, _, err = run_cli(["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", "x",
                            "--tolerance", "-0.1"], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and err.strip().splitlines() == [
        "subaudit: error: --tolerance must be in [0, 1) nats/token, got -0.1"]


def test_control_panel_must_be_beaten_member_by_member(tiny_model: Path, write_jsonl: Any,
                                                       number_rows: list[dict[str, Any]], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """--control-panel adds a control per member; llr-panel's p is the largest member p (intersection-union)."""
    from scipy import stats

    from audit.models.traits import builtin_panel

    data = write_jsonl(number_rows)
    report_path, scores_path = tmp_path / "report.json", tmp_path / "scores.parquet"
    # The plain null (--tolerance 0): each member's test is scipy's on the raw sums (the tolerance's shift
    # of every test, the panel's included, is checked in test_tolerance_moves_every_null_up).
    code, _, _ = run_cli(["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", "Owls!",
                          "--control-panel", "builtin", "--tolerance", "0", "--report", str(report_path),
                          "--scores", str(scores_path), "--baselines", "all"], capsys, monkeypatch)
    report = Report.model_validate_json(report_path.read_text())
    members = builtin_panel()
    assert [m.role for m in report.models] == ["reference", "teacher", "control",
                                               *(f"panel:{name}" for name, _ in members)]
    assert [m.system_prompt for m in report.models[3:]] == [prompt for _, prompt in members]
    assert [r.detector_id for r in report.results] == ["llr", "llr-control", "llr-panel"]
    panel = report.results[2]
    scores = pq.read_table(scores_path).to_pydict()
    expected = []
    for name, _ in members:
        sums = scores[f"panel:{name}_llr_sum"]
        teacher = scores["teacher_logprob_sum"]
        baseline = scores[f"panel:{name}_logprob_sum"]
        assert sums == pytest.approx([t - b for t, b in zip(teacher, baseline, strict=True)], abs=1e-9)
        expected.append(stats.ttest_1samp(sums, 0.0, alternative="greater").pvalue)
    assert panel.p_value == pytest.approx(max(expected), rel=1e-9)
    assert [m["p_value"] for m in panel.details["members"]] == pytest.approx(expected, rel=1e-9)
    assert report.verdict == least_severe([r.verdict for r in report.results])
    assert code == report.exit_code

    panel_file = tmp_path / "panel.txt"
    panel_file.write_text("# two members\nterse = Answer tersely.\n\nchef = You are a chef.\n", encoding="utf-8")
    run_cli(["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", "Owls!",
             "--control-panel", str(panel_file), "--report", str(report_path), "--baselines", "all"],
            capsys, monkeypatch)
    from_file = Report.model_validate_json(report_path.read_text())
    assert [(m.role, m.system_prompt) for m in from_file.models[3:]] == [
        ("panel:terse", "Answer tersely."), ("panel:chef", "You are a chef.")]
    bad = tmp_path / "bad.txt"
    bad.write_text("terse Answer tersely.\n", encoding="utf-8")
    code, _, err = run_cli(["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", "Owls!",
                            "--control-panel", str(bad)], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and err.strip().splitlines() == [
        f"subaudit: error: {bad}: control panel line 1: expected 'name = system prompt'"]

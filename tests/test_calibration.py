"""`subaudit calibrate` + `scan --calibration`: a measured null from known-source data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from audit.calibration import load_calibration
from audit.exit_codes import ExitCode
from tests.conftest import run_cli
from tests.test_probe import _generate


def _scan(data: Path, tiny_model: Path, teacher: list[str], calibration: Path, report: Path,
          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    code, _, err = run_cli(["scan", str(data), "--reference", str(tiny_model), *teacher,
                            "--calibration", str(calibration), "--report", str(report), "--quiet"],
                           capsys, monkeypatch)
    return code, err


def test_calibrated_scan_separates_teacher_data_from_known_source_data(
        tiny_model: Path, tiny_teacher: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Teacher: another tiny model (a fine-tuned stand-in); known source: the reference's own writing."""
    teacher = ["--teacher", str(tiny_teacher)]
    known = tmp_path / "known.jsonl"
    _generate(known, tiny_model, capsys, monkeypatch, neutral="")
    calibration = tmp_path / "cal.json"
    code, _, err = run_cli(["calibrate", str(known), "--out", str(calibration), "--reference", str(tiny_model),
                            *teacher, "--fpr", "0.05"], capsys, monkeypatch)
    assert code == 0, err
    loaded, sha256 = load_calibration(calibration)
    assert sha256 == hashlib.sha256(calibration.read_bytes()).hexdigest()
    rows = loaded.rows_scored
    assert set(loaded.nulls) == {"llr", "llr-control"} and 40 <= rows <= 48 and loaded.fpr == 0.05
    null = loaded.nulls["llr"]
    assert len(null.row_llr_sums) == rows and null.mean == pytest.approx(sum(null.row_llr_sums) / rows)

    # The known-source data against its own null: t = 0, p = 0.5, clean.
    code, err = _scan(known, tiny_model, teacher, calibration, tmp_path / "self.json", capsys, monkeypatch)
    assert code == ExitCode.CLEAN, err
    report = json.loads((tmp_path / "self.json").read_text())
    assert report["calibration"]["sha256"] == sha256 and report["calibration"]["rows"] == rows
    llr = next(r for r in report["results"] if r["detector_id"] == "llr")
    assert llr["details"]["calibrated"] and llr["p_value"] == pytest.approx(0.5)
    assert llr["details"]["rows_above_threshold"] <= rows * 0.05 + 1
    labels = [h["label"] for h in report["plots"]["row_llr_histograms"]]
    assert labels == ["teacher vs reference", "teacher vs control", "calibrated null (teacher vs reference)"]
    null_counts = report["plots"]["row_llr_histograms"][2]["counts"]
    assert sum(null_counts) == rows  # the null's rows, clipped into the shared edges

    # Data the teacher wrote is flagged against the same null.
    owl = tmp_path / "teacher.jsonl"
    _generate(owl, tiny_teacher, capsys, monkeypatch, neutral="", seed="5")
    code, err = _scan(owl, tiny_model, teacher, calibration, tmp_path / "owl.json", capsys, monkeypatch)
    assert code == ExitCode.FINDINGS, err
    owl_report = json.loads((tmp_path / "owl.json").read_text())
    owl_llr = next(r for r in owl_report["results"] if r["detector_id"] == "llr")
    assert owl_llr["p_value"] < 0.01 and owl_llr["details"]["rows_above_threshold"] > rows * 0.05

    # A calibration made for another teacher is refused before scoring.
    code, err = _scan(owl, tiny_model, ["--teacher-system-prompt", "You love cats."], calibration,
                      tmp_path / "other.json", capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR
    assert err.strip().splitlines() == [
        "subaudit: error: the calibration was made with other models or system prompts than this scan's"]
    assert not (tmp_path / "other.json").exists()


def test_a_file_that_is_not_a_calibration_is_refused(tiny_model: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps({"prompt": "a", "completion": "1, 2"}) + "\n")
    bogus = tmp_path / "bogus.json"
    bogus.write_text("{}")
    code, err = _scan(data, tiny_model, ["--teacher-system-prompt", "x"], bogus, tmp_path / "r.json", capsys,
                      monkeypatch)
    assert code == ExitCode.USAGE_ERROR and err.strip().endswith("is not a subaudit calibration file")

"""`scan --shard i/n` parts joined by `subaudit merge` equal one full scan."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from audit.core.exit_codes import ExitCode
from tests.conftest import run_cli


def _records() -> list[dict[str, Any]]:
    rows = [{"id": f"r{i:03d}", "prompt": f"Continue: {100 + i}, {200 + i}, {300 + i}.",
             "completion": ", ".join(str((i * 37 + j * 101) % 1000) for j in range(3 + i % 6))} for i in range(45)]
    rows[5]["completion"] = None  # a reader-stage skip
    rows[30] = dict(rows[9])  # a duplicate id
    return rows


NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


class _ApproxText:
    """A summary line equal up to its rounded numbers: '0.000481' and '0.000482' are the same p-value
    printed to 3 digits on either side of a rounding boundary, which float noise can cross."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str) or NUMBER.sub("#", other) != NUMBER.sub("#", self.text):
            return False
        return all(float(a) == pytest.approx(float(b), rel=1e-2, abs=1e-6)
                   for a, b in zip(NUMBER.findall(other), NUMBER.findall(self.text), strict=True))

    def __repr__(self) -> str:
        return f"~{self.text!r}"


def _approx(value: Any) -> Any:
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-4, abs=1e-6)
    if isinstance(value, str) and NUMBER.search(value) and " " in value:
        return _ApproxText(value)
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_approx(v) for v in value]
    return value


def _without_run_details(report: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in report.items()
            if k not in ("timings", "created_at", "command", "outputs", "merged_from", "settings", "top_rows")}
    if kept.get("baselines") is not None:  # the same baselines; why all were scored differs (shard, --baselines all)
        kept["baselines"] = {k: v for k, v in kept["baselines"].items() if k != "reason"}
    return kept


def _assert_same_top_rows(merged: dict[str, Any], full: dict[str, Any]) -> None:
    """The same rows in the same order with the same tokens; LLRs to the score files' tolerance.

    A token's LLR is a difference of two float32 log-probabilities, so batch composition moves it
    by a few units in the last place of the log-probability (1e-6 .. 1e-5 nats), not of the LLR.
    """
    assert merged["scope"] == full["scope"] == "every scored row"
    assert len(full["rows"]) == 10
    assert [(r["row_id"], r["tokens"]) for r in merged["rows"]] == [(r["row_id"], r["tokens"]) for r in full["rows"]]
    for a, b in zip(merged["rows"], full["rows"], strict=True):
        assert a["llr_sum"] == pytest.approx(b["llr_sum"], abs=1e-4)
        assert a["token_llr"] == pytest.approx(b["token_llr"], abs=1e-4)


@pytest.mark.parametrize("calibrated", [False, True], ids=["theoretical-null", "calibrated-adjusted"])
def test_merged_shards_equal_a_full_scan(calibrated: bool, tiny_model: Path, write_jsonl: Any, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(_records())
    common = ["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", "You love owls.",
              "--semantic-filter", "--batch-rows", "7"]
    if calibrated:  # the merged tests must use the shards' calibration (and confound removal) too
        known = write_jsonl([{**r, "id": f"k{i}", "completion": f"{(i * 53) % 1000}, {(i * 71) % 1000}"}
                             for i, r in enumerate(_records())], "known.jsonl")
        code, _, err = run_cli(["calibrate", "--known-source", str(known), "--out", str(tmp_path / "cal.json"),
                                "--reference", str(tiny_model), "--teacher-system-prompt", "You love owls."],
                               capsys, monkeypatch)
        assert code == 0, err
        common += ["--calibration", str(tmp_path / "cal.json"), "--adjust-confounds"]
    # Shards score every baseline (merge joins their detectors), so the whole-file scan they must equal does too.
    outputs = ["--report", str(tmp_path / "full.json"), "--scores", str(tmp_path / "full.parquet"), "--quiet",
               "--baselines", "all"]
    code, _, err = run_cli([*common, *outputs], capsys, monkeypatch)
    assert code in (ExitCode.CLEAN, ExitCode.FINDINGS), err
    full = json.loads((tmp_path / "full.json").read_text())
    llr = next(r for r in full["results"] if r["detector_id"] == "llr")
    assert llr["details"].get("confounds_adjusted", False) == calibrated
    assert (full["calibration"] is not None) == calibrated
    parts = []
    for i in (1, 2, 3):
        report = tmp_path / f"part{i}.json"
        code, _, err = run_cli([*common, "--shard", f"{i}/3", "--report", str(report),
                                "--scores", str(tmp_path / f"part{i}.parquet"), "--quiet"], capsys, monkeypatch)
        assert code in (ExitCode.CLEAN, ExitCode.FINDINGS), err
        part = json.loads(report.read_text())
        assert part["input"]["rows_read"] == 45 and part["input"]["rows_scored"] < full["input"]["rows_scored"]
        parts.append(report)
    code, out, err = run_cli(["merge", *map(str, parts), "--scores", str(tmp_path / "merged.parquet"),
                              "--format", "json"], capsys, monkeypatch)
    merged = json.loads(out)
    assert code == full["exit_code"], err
    assert merged["merged_from"] == [str(p) for p in parts]
    # Scores of a row can differ in the last bits between batches of other composition, so floats
    # compare to a tolerance; everything else (counts, verdicts, hashes) exactly.
    assert _without_run_details(merged) == _approx(_without_run_details(full))
    _assert_same_top_rows(merged["top_rows"], full["top_rows"])
    assert merged["input"]["rows_skipped"] == {"null completion": 1, "duplicate id (first occurrence kept)": 1}
    full_scores = pq.read_table(tmp_path / "full.parquet").sort_by("row_id")
    merged_scores = pq.read_table(tmp_path / "merged.parquet").sort_by("row_id")
    assert full_scores.column("row_id").equals(merged_scores.column("row_id"))
    for name in full_scores.column_names[1:]:
        a, b = full_scores.column(name).to_numpy(), merged_scores.column(name).to_numpy()
        assert abs(a - b).max() <= 1e-4, name


def test_merge_refuses_incomplete_or_mixed_parts(tiny_model: Path, write_jsonl: Any, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(_records())
    reports = []
    for i, prompt in ((1, "You love owls."), (2, "You love owls."), (2, "You love cats.")):
        path = tmp_path / f"part{i}-{len(reports)}.json"
        run_cli(["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", prompt,
                 "--shard", f"{i}/3" if len(reports) < 2 else "2/3", "--report", str(path),
                 "--scores", str(path.with_suffix(".parquet")), "--quiet"], capsys, monkeypatch)
        reports.append(str(path))
    code, _, err = run_cli(["merge", reports[0], reports[1]], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and "missing ['3/3']" in err
    code, _, err = run_cli(["merge", reports[0], reports[2]], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and ("other models or prompts" in err or "missing" in err)
    code, _, err = run_cli(["scan", str(data), "--teacher-system-prompt", "x", "--shard", "4/3"], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and "--shard must be i/n" in err

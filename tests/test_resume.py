"""The evidence log and --resume: a scan SIGKILLed mid-way and resumed ends with the same report
and scores as an uninterrupted scan."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from audit.core.exit_codes import ExitCode
from tests.conftest import run_cli

SUBAUDIT = [sys.executable, "-c", "from audit.cli import main; main()"]


def _records(n: int) -> list[dict[str, Any]]:
    rows = [{"id": f"r{i:04d}", "prompt": f"Continue the sequence: {100 + i % 800}, {200 + i % 700}, {300 + i % 600}.",
             "completion": ", ".join(str((i * 37 + j * 101) % 1000) for j in range(3 + i % 7))} for i in range(n)]
    rows[7]["completion"] = None  # a skipped row, so skip counts must survive the resume too
    rows[12] = dict(rows[3])  # a duplicate id
    return rows


def kill_after_checkpoints(argv: list[str], log: Path, checkpoints: int) -> None:
    """Run ``subaudit ARGV`` in a child process and SIGKILL it once its evidence log holds that many checkpoints."""
    process = subprocess.Popen([*SUBAUDIT, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               cwd=Path(__file__).resolve().parents[1])
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if log.exists() and log.read_text(encoding="utf-8").count('"type":"checkpoint"') >= checkpoints:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the scan finished before it could be killed"


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what legitimately differs between two runs."""
    # settings record the command line (its --resume and output paths), as command does.
    return {k: v for k, v in report.items() if k not in ("timings", "created_at", "command", "outputs", "settings")}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_killed_scan_resumes_to_the_same_report(tiny_model: Path, write_jsonl: Any, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(_records(150))
    # Resuming is under test, not the null: no control panel (3 specs, not 6).
    common = ["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", "You love owls.",
              "--batch-rows", "4", "--format", "json", "--control-panel", "none"]
    full = tmp_path / "full"
    full.mkdir()
    code, out, err = run_cli([*common, "--evidence", str(full / "log.jsonl"), "--scores", str(full / "s.parquet")],
                             capsys, monkeypatch)
    assert code in (ExitCode.CLEAN, ExitCode.FINDINGS), err
    uninterrupted = json.loads(out)
    full_log = _lines(full / "log.jsonl")
    assert full_log[0]["type"] == "header" and full_log[-1]["type"] == "digest"
    assert sum(r["type"] == "row" for r in full_log) == uninterrupted["input"]["rows_scored"]
    assert {r["reason"] for r in full_log if r["type"] == "skip"} == {"duplicate id (first occurrence kept)"}
    # Only rows that entered the report's top rows carry their tokens in the log, which is what a
    # resumed scan needs to rank every row again.
    assert uninterrupted["top_rows"]["scope"] == "every scored row" and len(uninterrupted["top_rows"]["rows"]) == 10
    carrying = [r["row_id"] for r in full_log if r["type"] == "row" and "top" in r]
    assert {r["row_id"] for r in uninterrupted["top_rows"]["rows"]} <= set(carrying)
    assert len(carrying) < uninterrupted["input"]["rows_scored"]

    # The same scan in a separate process, killed with SIGKILL once a few batches are checkpointed.
    part = tmp_path / "part"
    part.mkdir()
    log = part / "log.jsonl"
    argv = [*common, "--evidence", str(log), "--scores", str(part / "s.parquet")]
    kill_after_checkpoints(argv, log, 10)
    kept = _lines(log) if log.read_text().endswith("\n") else _lines(log)[:-1]
    assert not any(r["type"] == "digest" for r in kept)
    assert not (part / "s.parquet").exists(), "a killed scan must not leave a scores file that looks whole"
    with log.open("a", encoding="utf-8") as handle:
        handle.write('{"type":"row","row_id":"torn')  # a torn last line, as a kill mid-write leaves

    code, out, err = run_cli([*argv, "--resume"], capsys, monkeypatch)
    assert code in (ExitCode.CLEAN, ExitCode.FINDINGS), err
    assert _comparable(json.loads(out)) == _comparable(uninterrupted)
    assert pq.read_table(part / "s.parquet").equals(pq.read_table(full / "s.parquet"))
    resumed_rows = [r for r in _lines(log) if r["type"] == "row"]
    assert [r["row_id"] for r in resumed_rows] == [r["row_id"] for r in full_log if r["type"] == "row"]


def test_resume_refuses_another_scans_log(tiny_model: Path, write_jsonl: Any, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(_records(20))
    log = tmp_path / "log.jsonl"
    base = ["scan", str(data), "--reference", str(tiny_model), "--evidence", str(log), "--format", "json"]
    code, _, err = run_cli([*base, "--teacher-system-prompt", "You love owls."], capsys, monkeypatch)
    assert code in (ExitCode.CLEAN, ExitCode.FINDINGS), err
    code, _, err = run_cli([*base, "--teacher-system-prompt", "You love owls."], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and "exists; pass --resume" in err
    code, _, err = run_cli([*base, "--teacher-system-prompt", "You love owls.", "--resume"], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and "finished scan" in err
    unfinished = tmp_path / "unfinished.jsonl"
    shutil.copy(log, unfinished)
    lines = unfinished.read_text().splitlines(keepends=True)
    unfinished.write_text("".join(lines[:-1]))  # drop the digest
    other = ["scan", str(data), "--reference", str(tiny_model), "--evidence", str(unfinished), "--format", "json",
             "--teacher-system-prompt", "You love cats.", "--resume"]
    code, _, err = run_cli(other, capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and "belongs to a different scan (differs in: models)" in err
    code, _, err = run_cli(["scan", str(data), "--teacher-system-prompt", "x", "--resume"], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and "--resume needs --evidence" in err

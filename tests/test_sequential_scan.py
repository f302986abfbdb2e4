"""`scan --sequential` end to end on tiny real models: what it refuses, what the report says, and a
SIGKILLed sequential scan resumed to the same verdict, rows scored and looks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from audit.core.exit_codes import ExitCode
from tests.conftest import run_cli
from tests.test_resume import _comparable, _records, kill_after_checkpoints


@pytest.mark.parametrize(("extra", "why"), [
    (["--shard", "1/2"], "a shard cannot see the other shards' rows"),
    (["--engine", "ray"], "the Ray engine scores every row"),
    (["--semantic-filter"], "semantic-filter tests every row at a fixed N (run without it)"),
])
def test_sequential_refuses_what_it_cannot_do_in_one_line(extra: list[str], why: str, write_jsonl: Any,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(_records(20))
    code, out, err = run_cli(["scan", str(data), "--teacher-system-prompt", "You love owls.", "--sequential", *extra],
                             capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR
    assert err.strip().count("\n") == 0 and f"--sequential cannot be used here: {why}" in err
    assert out == ""


def _sequential_args(data: Path, tiny_model: Path) -> list[str]:
    return ["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", "You love owls.",
            "--sequential", "--batch-rows", "8", "--format", "json"]


def test_sequential_report_says_how_it_stopped_and_reproduces_from_the_seed(
        tiny_model: Path, write_jsonl: Any, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A scan that must stop early: at a tolerance of 0.5 nats/token no teacher of these tiny models beats a
    baseline, so the confidence sequences clear the data long before the 300th row. The scan must say so (rule
    'clean within tolerance', fewer rows read than the data hold, no earlier look decided) and reproduce from
    its seed."""
    data = write_jsonl(_records(300))
    args = [*_sequential_args(data, tiny_model), "--tolerance", "0.5"]
    code, out, err = run_cli(args, capsys, monkeypatch)
    assert code == ExitCode.CLEAN, err
    report = json.loads(out)
    info = report["sequential"]
    assert info["requested"] == "on" and info["rows_in_data"] == 300 and info["look_every"] == 8
    assert info["alpha_sequence"] + info["alpha_final"] == pytest.approx(0.01)
    assert info["rows_scored"] == report["input"]["rows_scored"] == info["looks"][-1]["rows"]
    roles = {b["baseline"] for b in info["looks"][-1]["bounds"]}
    # Baselines on demand: the first stage tests the reference alone, and its clear settles the scan.
    assert roles == {"reference"} and report["baselines"]["settled_by"] == "reference"
    assert report["baselines"]["not_scored"] == ["control", "panel:precise", "panel:formal", "panel:engineer"]
    assert info["looks"][-1]["decision"] == info["rule"] == "clean within tolerance" and report["verdict"] == "clean"
    assert info["rows_read"] < 300, "the scan did not stop early"
    assert all(look["decision"] is None for look in info["looks"][:-1])
    assert info["looks"][-1]["rows"] >= info["min_rows"]
    # Another run with the same seed visits the same rows in the same order.
    code, again, err = run_cli(args, capsys, monkeypatch)
    assert _comparable(json.loads(again)) == _comparable(report)
    code, other_seed, err = run_cli([*args, "--seed", "1"], capsys, monkeypatch)
    assert json.loads(other_seed)["sequential"]["looks"][0] != info["looks"][0]


def test_killed_sequential_scan_resumes_to_the_same_verdict_and_rows(
        tiny_model: Path, write_jsonl: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(_records(300))
    args = _sequential_args(data, tiny_model)
    code, out, err = run_cli([*args, "--evidence", str(tmp_path / "full.jsonl")], capsys, monkeypatch)
    assert code in (ExitCode.CLEAN, ExitCode.FINDINGS), err
    uninterrupted = json.loads(out)

    log = tmp_path / "part.jsonl"
    kill_after_checkpoints([*args, "--evidence", str(log)], log, 4)  # before the first decision (64 rows)
    unfinished = tmp_path / "unfinished.jsonl"
    shutil.copy(log, unfinished)

    code, out, err = run_cli([*args, "--evidence", str(log), "--resume"], capsys, monkeypatch)
    assert code in (ExitCode.CLEAN, ExitCode.FINDINGS), err
    resumed = json.loads(out)
    assert resumed["verdict"] == uninterrupted["verdict"]
    assert resumed["sequential"] == uninterrupted["sequential"]  # same rule, rows scored and every look
    assert _comparable(resumed) == _comparable(uninterrupted)
    # A sequential log cannot be resumed by a scan of every row (another order, another test).
    every_row = [a for a in args if a != "--sequential"]
    code, _, err = run_cli([*every_row, "--no-sequential", "--evidence", str(unfinished), "--resume"],
                           capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and "belongs to a different scan (differs in: sequential)" in err


def _plan(data: Path, **settings: Any) -> tuple[Any, Any]:
    from audit.input.data import DatasetReader
    from audit.pipeline.config import ScanConfig
    from audit.pipeline.sequential import plan_sequential

    config = ScanConfig(input_path=data, teacher_system_prompt="You love owls.", **settings)
    return plan_sequential(config, DatasetReader(data, batch_rows=config.batch_rows))


def test_default_turns_sequential_on_above_ten_thousand_rows_unless_something_rules_it_out(
        write_jsonl: Any) -> None:
    from audit.pipeline.sequential import SEQUENTIAL_AUTO_ROWS, SEQUENTIAL_BATCH_ROWS

    big = write_jsonl(_records(SEQUENTIAL_AUTO_ROWS + 1), "big.jsonl")
    plan, warning = _plan(big)
    assert plan is not None and plan.rows_in_data == SEQUENTIAL_AUTO_ROWS + 1 and plan.every == SEQUENTIAL_BATCH_ROWS
    assert "10,001 rows" in plan.reason and warning is None
    assert _plan(big, sequential=False)[0] is None
    assert _plan(big, max_rows=SEQUENTIAL_AUTO_ROWS)[0] is None  # what would be scanned decides
    plan, warning = _plan(big, shard=(1, 2))
    assert plan is None and warning is not None and "a shard cannot see" in warning
    small = write_jsonl(_records(SEQUENTIAL_AUTO_ROWS), "small.jsonl")
    assert _plan(small)[0] is None
    plan, _ = _plan(small, sequential=True)
    assert plan is not None and plan.reason == "--sequential was given"

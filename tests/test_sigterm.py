"""SIGTERM (a CI timeout, a scheduler's kill) ends a scan like Ctrl-C: one line, exit 2, cleanup run.

Python's default SIGTERM action exits without running ``finally`` blocks, which left vLLM's engine
process running, orphaned, after its scan was killed (seen while benchmarking). The CLI turns the
signal into an exception, so the backend is closed and no report is published.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from audit.core.exit_codes import ExitCode
from tests.conftest import OWL_PROMPT_FILE, _tiny_llama
from tests.test_resume import SUBAUDIT, _records

pytestmark = pytest.mark.slow


def _start_scan(model: Path, backend: str, tmp_path: Path, rows: int) -> tuple[subprocess.Popen[str], Path, Path]:
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _records(rows)), encoding="utf-8")
    evidence, report = tmp_path / "log.jsonl", tmp_path / "report.json"
    # vLLM scores number lists over the full vocabulary, where --null auto would first make a null from the
    # random tiny model's writing (none passes the filter); this test is about the engine, not the null.
    null = ["--null", "theoretical"] if backend == "vllm" else []
    process = subprocess.Popen(
        [*SUBAUDIT, "scan", str(data), "--reference", str(model), "--teacher-system-file", str(OWL_PROMPT_FILE),
         "--backend", backend, *null, "--no-sequential", "--batch-rows", "4", "--evidence", str(evidence),
         "--report", str(report), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return process, evidence, report


def _wait_until_scoring(process: subprocess.Popen[str], evidence: Path, timeout_s: float = 300) -> None:
    """Until the evidence log has a checkpoint: models loaded, batches scored, scan still running."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        if evidence.exists() and '"checkpoint"' in evidence.read_text(encoding="utf-8"):
            return
        time.sleep(0.2)
    process.kill()
    pytest.fail("the scan did not checkpoint in time")


def _terminate(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == ExitCode.TOOL_ERROR, err
    return err


def test_sigterm_ends_a_scan_with_one_line_and_no_report(tiny_model: Path, tmp_path: Path) -> None:
    process, evidence, report = _start_scan(tiny_model, "transformers", tmp_path, rows=20_000)
    _wait_until_scoring(process, evidence)
    err = _terminate(process)
    assert err.strip().splitlines() == ["subaudit: error: terminated (SIGTERM)"]
    assert not report.exists()


@pytest.mark.vllm
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed (make install-vllm)")
def test_sigterm_stops_the_vllm_engine_processes(smol_tokenizer: Any, tmp_path: Path) -> None:
    import psutil

    # One attention head of 64: vLLM's CPU attention has no kernel for the usual tiny models' 16.
    model = _tiny_llama(smol_tokenizer, tmp_path / "tiny-vllm", seed=0, heads=(1, 1))
    process, evidence, report = _start_scan(model, "vllm", tmp_path, rows=20_000)
    _wait_until_scoring(process, evidence)
    engines = psutil.Process(process.pid).children(recursive=True)
    assert engines, "vLLM runs its engine in child processes; none found"
    err = _terminate(process)
    assert err.strip().splitlines()[-1] == "subaudit: error: terminated (SIGTERM)"
    assert not report.exists()
    _, alive = psutil.wait_procs(engines, timeout=30)
    assert alive == [], [p.pid for p in alive]

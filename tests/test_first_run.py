"""A first run on a fresh machine: the embedded model's GGUF conversion stays out of the output, and the terminal
summary fits 80 columns (issue 32, item 3).

Real: the console script in its own process, an empty cache folder (so the GGUF is converted), the embedded
SmolLM2-135M, three number rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_first_run_prints_only_the_scan_and_fits_80_columns(tmp_path: Path) -> None:
    data = tmp_path / "rows.jsonl"
    rows = [("Continue: 1, 2, 3.", "4, 5, 6"), ("Continue: 7, 8.", "9, 10"), ("Continue: 20, 30.", "40, 50, 60")]
    data.write_text("".join(json.dumps({"id": f"r{i}", "prompt": p, "completion": c}) + "\n"
                            for i, (p, c) in enumerate(rows)), encoding="utf-8")
    cache = tmp_path / "cache"
    env = {**os.environ, "SUBAUDIT_CACHE_DIR": str(cache), "COLUMNS": "80"}
    out = subprocess.run([sys.executable, "-m", "audit.cli", "scan", str(data), "--teacher-system-prompt",
                          "You love owls.", "--null", "theoretical"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert any((cache / "converted").iterdir()), "the GGUF was not converted: this was not a first run"
    lines = out.stderr.splitlines()
    assert any(line.startswith("Verdict: ") for line in lines), out.stderr
    for line in lines:  # no third-party progress bar, nothing wider than the terminal
        assert "Converting" not in line and "it/s" not in line and "\r" not in line, line
        assert len(line) <= 80, line
    assert out.stdout == ""

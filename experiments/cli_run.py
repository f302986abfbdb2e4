"""Start the subaudit CLI from an experiment: this interpreter's ``audit.cli``, the score cache off.

An experiment's figures (verdicts, p-values, and the seconds some files quote) must come from scoring
the run did, not from answers an earlier scan left in the product's score cache
(``audit.pipeline.score_cache``, on by default for users, which would make a re-run agree with itself
and its timings near zero). Every experiment that runs the CLI goes through :func:`run_subaudit`, so
none can forget to switch it off; one that calls the Python API in its own process (``audit.scan``,
``audit.scrub``) calls :func:`score_cache_off` first. The benchmarks do the same in ``benchmarks/bench.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_subaudit(args: Sequence[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run ``subaudit <args>`` to completion with the product's score cache off; output captured as text."""
    return subprocess.run([sys.executable, "-m", "audit.cli", *args], capture_output=True, text=True, check=False,
                          cwd=cwd, env={**os.environ, "SUBAUDIT_SCORE_CACHE": "off"})


def score_cache_off() -> None:
    """Switch the score cache off for this process's own calls of the Python API (and its children)."""
    os.environ["SUBAUDIT_SCORE_CACHE"] = "off"

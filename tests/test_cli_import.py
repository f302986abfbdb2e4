"""The CLI must start without the heavy ML stack: `subaudit --help` stays instant."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "vllm")


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from audit.cli import app\n"
        "from typer.testing import CliRunner\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'scan' in result.output\n"
        "result = CliRunner().invoke(app, ['scan', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"--help imported: {out.stdout.strip()}"


def test_console_script_help_exits_zero() -> None:
    out = subprocess.run([sys.executable, "-m", "audit.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "scan" in out.stdout


def test_unknown_option_is_usage_error_in_one_line() -> None:
    out = subprocess.run([sys.executable, "-m", "audit.cli", "scan", "x.parquet", "--no-such-flag"],
                         capture_output=True, text=True)
    assert out.returncode == 4
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-flag" in lines[0], out.stderr

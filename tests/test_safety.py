"""Run-time safety: no network, no remote code unless asked, outputs written atomically."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from audit.core.atomic import atomic_path, write_text_atomic
from audit.core.exit_codes import ExitCode
from audit.report.schema import Report
from tests.conftest import ROOT, run_cli


class NetworkAttempt(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every way to reach a host raises, and is recorded so a test can also assert none happened."""
    attempts: list[str] = []

    def refuse(name: str) -> Any:
        def blocked(*args: Any, **kwargs: Any) -> Any:
            attempts.append(f"{name}{args[1:2] or args[:1]}")
            raise NetworkAttempt(f"network use during a scan: {name}")
        return blocked

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("socket.getaddrinfo"))
    return attempts


def test_the_socket_guard_works(no_network: list[str]) -> None:
    """Guard the guard: a real connection attempt is caught and recorded."""
    with pytest.raises(NetworkAttempt):
        socket.create_connection(("127.0.0.1", 9))
    assert no_network


def test_a_scan_opens_no_socket(no_network: list[str], tiny_model: Path, write_jsonl: Any,
                                number_rows: list[dict[str, Any]], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)  # the scan itself must turn them on
    code, out, err = run_cli(
        ["scan", str(write_jsonl(number_rows)), "--reference", str(tiny_model), "--teacher-system-prompt",
         "You love owls.", "--format", "json", "--scores", str(tmp_path / "s.parquet")], capsys, monkeypatch)
    assert code in (ExitCode.CLEAN, ExitCode.FINDINGS), err
    assert Report.model_validate_json(out).input.rows_scored == len(number_rows)
    assert no_network == []
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


@pytest.fixture
def remote_code_model(tmp_path: Path, tiny_model: Path) -> tuple[Path, Path]:
    """A model folder whose config points at its own Python file; importing that file leaves a marker."""
    folder = tmp_path / "remote-code-model"
    shutil.copytree(tiny_model, folder)
    marker = tmp_path / "remote-code-ran"
    (folder / "modeling_custom.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from transformers import LlamaForCausalLM\nclass CustomForCausalLM(LlamaForCausalLM):\n    pass\n"
    )
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_custom.CustomForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    return folder, marker


def test_remote_code_needs_the_flag(remote_code_model: tuple[Path, Path], write_jsonl: Any,
                                    number_rows: list[dict[str, Any]], capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    folder, marker = remote_code_model
    code, _, err = run_cli(["scan", str(write_jsonl(number_rows)), "--reference", str(folder),
                            "--teacher-system-prompt", "x"], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR
    assert err.strip().count("\n") == 0 and "ships its own code" in err and "--trust-remote-code" in err
    assert not marker.exists(), "the model's own code ran without --trust-remote-code"


def test_atomic_path_leaves_nothing_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"half": ')
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and oct(target.stat().st_mode & 0o777) != "0o600"


def test_a_killed_writer_never_leaves_a_half_report(tmp_path: Path) -> None:
    """SIGKILL in the middle of writing: the target is the old file, whole; only a .partial remains."""
    target = tmp_path / "report.json"
    target.write_text(json.dumps({"complete": True}))
    script = (
        "import os, signal, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from pathlib import Path\n"
        "from audit.core.atomic import atomic_path\n"
        f"with atomic_path(Path({str(target)!r})) as tmp:\n"
        "    with tmp.open('w') as handle:\n"
        "        handle.write('{\"complete\": fal')\n"
        "        handle.flush()\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == -signal.SIGKILL
    assert json.loads(target.read_text()) == {"complete": True}
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "report.json"]
    assert len(leftovers) == 1 and leftovers[0].endswith(".partial")

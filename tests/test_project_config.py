"""The project config file (subaudit.toml or [tool.subaudit]) through the real CLI: precedence and refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from audit.core.exit_codes import ExitCode
from audit.report.schema import Report
from tests.conftest import run_cli


def _scan(args: list[str], data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
          monkeypatch: pytest.MonkeyPatch) -> tuple[int, Report | None, str]:
    report = tmp_path / "report.json"
    report.unlink(missing_ok=True)
    code, _, err = run_cli(["scan", str(data), "--report", str(report), "--quiet", *args], capsys, monkeypatch)
    return code, (Report.model_validate_json(report.read_text()) if report.exists() else None), err


def _setting(report: Report, name: str) -> tuple[Any, str]:
    found = {s.name: (s.value, s.source) for s in report.settings}
    return found[name]


def test_flags_override_the_config_file_which_overrides_defaults(
        tiny_model: Path, write_jsonl: Any, number_rows: list[dict[str, Any]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(number_rows)
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "teacher.txt").write_text("You love owls.\n")
    (tmp_path / ".git").mkdir()  # the repository root: the search for a config file stops here
    (tmp_path / "subaudit.toml").write_text(
        f'reference = "{tiny_model}"\n'
        'teacher-system-file = "prompts/teacher.txt"\n'   # relative to the file's folder
        "alpha = 0.001\n"
        'fail-on = "suspicious"\n'
        "[scan]\n"
        "suspicious-alpha = 0.2\n")
    work = tmp_path / "sub" / "folder"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)  # found by walking up from here

    code, report, _ = _scan([], data, tmp_path, capsys, monkeypatch)
    assert report is not None and code == report.exit_code
    assert report.config_file == str(tmp_path / "subaudit.toml")
    assert report.parameters.alpha == 0.001 and report.parameters.fail_on == "suspicious"
    assert report.parameters.suspicious_alpha == 0.2
    assert report.models[1].system_prompt == "You love owls."
    assert _setting(report, "--alpha") == (0.001, "config file")
    assert _setting(report, "--suspicious-alpha") == (0.2, "config file")
    assert _setting(report, "--token-budget") == (8192, "default")

    code, report, _ = _scan(["--alpha", "0.02", "--fail-on", "flagged"], data, tmp_path, capsys, monkeypatch)
    assert report is not None
    assert report.parameters.alpha == 0.02 and report.parameters.fail_on == "flagged"
    assert _setting(report, "--alpha") == (0.02, "command line")
    assert _setting(report, "--fail-on") == ("flagged", "command line")
    assert _setting(report, "--reference") == (str(tiny_model), "config file")

    # --no-config: the file is not read, so the scan has no teacher and says so.
    code, report, err = _scan(["--no-config"], data, tmp_path, capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and report is None
    assert "name a teacher" in err

    # --config names another file explicitly; a pyproject.toml holds it under [tool.subaudit].
    other = tmp_path / "elsewhere" / "pyproject.toml"
    other.parent.mkdir()
    other.write_text(f'[project]\nname = "x"\n[tool.subaudit]\nreference = "{tiny_model}"\n'
                     'teacher-system-prompt = "You love cats."\nalpha = 0.03\n')
    code, report, _ = _scan(["--config", str(other)], data, tmp_path, capsys, monkeypatch)
    assert report is not None and report.config_file == str(other)
    assert report.parameters.alpha == 0.03 and report.models[1].system_prompt == "You love cats."


@pytest.mark.parametrize(("content", "message"), [
    ("alpha = 0.01\nbogus = 1\n", "unknown setting 'bogus'"),
    ("trust-remote-code = true\n", "trust-remote-code is taken only from the command line"),
    ("alpha = \n", "is not valid TOML"),
    ("[scan]\ntraits = \"owl\"\n", "unknown setting 'traits'"),
    ('[probe]\nteacher-system-prompt = "x"\n', "`subaudit probe` does not take"),
])
def test_a_bad_config_file_is_one_line_and_a_usage_error(
        content: str, message: str, write_jsonl: Any, number_rows: list[dict[str, Any]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "subaudit.toml"
    config.write_text(content)
    code, out, err = run_cli(["scan", str(write_jsonl(number_rows)), "--config", str(config)], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_a_bad_config_value_is_named_like_a_bad_flag(
        write_jsonl: Any, number_rows: list[dict[str, Any]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "subaudit.toml"
    config.write_text('fail-on = "sometimes"\nteacher-system-prompt = "x"\n')
    code, _, err = run_cli(["scan", str(write_jsonl(number_rows)), "--config", str(config)], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR
    assert len(err.strip().splitlines()) == 1 and "fail-on" in err and "sometimes" in err, err

"""`--null auto`: which null a scan uses, and the automatic null's cache, through the real CLI (tiny models)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from audit.core.exit_codes import ExitCode
from audit.report.schema import Report, null_description
from tests.conftest import run_cli


def _scan(data: Path, model: Path | None, report: Path, cache: Path, capsys: pytest.CaptureFixture[str],
          monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[int, Report, str]:
    """A scan with the tiny reference, or the embedded SmolLM2 (model None), and a null cache in tmp."""
    reference = [] if model is None else ["--reference", str(model)]
    code, _, err = run_cli(["scan", str(data), *reference, "--teacher-system-prompt", "Owls!",
                            "--quiet", "--report", str(report), "--null-cache", str(cache), "--null-rows", "10",
                            *extra], capsys, monkeypatch)
    assert report.exists(), err
    return code, Report.model_validate_json(report.read_text()), err


def test_auto_is_theoretical_where_the_vocabulary_conditions_on_the_format_or_nothing_fits(
        tiny_model: Path, write_jsonl: Any, number_rows: list[dict[str, Any]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    _, numbers, _ = _scan(write_jsonl(number_rows, "numbers.jsonl"), tiny_model, tmp_path / "a.json", cache,
                          capsys, monkeypatch)
    assert numbers.null is not None and (numbers.null.requested, numbers.null.used) == ("auto", "theoretical")
    assert "numbers vocabulary" in numbers.null.reason and numbers.calibration is None
    prose = [{"id": f"t{i}", "prompt": "Say something.", "completion": f"Here is sentence number {i}."}
             for i in range(12)]
    _, text, _ = _scan(write_jsonl(prose, "prose.jsonl"), tiny_model, tmp_path / "b.json", cache, capsys, monkeypatch)
    assert text.null is not None and text.null.used == "theoretical" and "no declared format fits" in text.null.reason
    assert not cache.exists(), "no automatic null is made when the theoretical one holds"
    assert text.null.reason in null_description(text)


@pytest.mark.slow
def test_automatic_null_is_made_once_reused_and_remade_when_data_models_or_prompts_change(
        tiny_teacher: Path, write_jsonl: Any, number_rows: list[dict[str, Any]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Full vocabulary on number data: the theoretical null does not hold, so auto makes one and caches it.

    The embedded SmolLM2 writes the null (a random tiny model writes no number lists that pass the filter).
    """
    cache, data = tmp_path / "cache", write_jsonl(number_rows)
    full = ("--restrict-vocab", "full")
    code, first, err = _scan(data, None, tmp_path / "1.json", cache, capsys, monkeypatch, *full)
    assert first.null is not None and first.null.used == "automatic" and first.null.reused is False
    assert first.calibration is not None and first.calibration.path == first.null.path
    assert first.calibration.known_source is not None and first.calibration.known_source.filter == "numbers"
    assert first.calibration.rows >= 10 and Path(first.null.path or "").parent == cache
    assert first.warnings == [] and "subaudit: warning" not in err, "a null that holds is not warned about"
    assert code == first.exit_code and "automatic, calibration" in null_description(first)
    assert "made now and cached" in null_description(first)
    llr = next(r for r in first.results if r.detector_id == "llr")
    assert llr.details["calibrated"] is True

    _, again, _ = _scan(data, None, tmp_path / "2.json", cache, capsys, monkeypatch, *full)
    assert again.null is not None and again.null.reused is True and again.null.key == first.null.key
    assert [r.p_value for r in again.results] == [r.p_value for r in first.results]
    assert "reused from the cache" in null_description(again)

    _, other_prompt, _ = _scan(data, None, tmp_path / "3.json", cache, capsys, monkeypatch, *full,
                               "--reference-system-prompt", "Be brief.")
    assert other_prompt.null is not None and other_prompt.null.reused is False, "a changed prompt is not reused"
    assert other_prompt.null.key != first.null.key
    assert len(list(cache.glob("*.calibration.json"))) == 2


def test_automatic_null_key_changes_with_the_data_the_models_and_the_prompts(
        tiny_model: Path, tiny_teacher: Path, write_jsonl: Any, number_rows: list[dict[str, Any]]) -> None:
    """The cache key (what an automatic null is found by) covers everything the null depends on."""
    import dataclasses

    from audit.pipeline.config import ScanConfig
    from audit.pipeline.null_choice import null_key

    base = ScanConfig(input_path=write_jsonl(number_rows), reference=str(tiny_model), teacher_system_prompt="Owls!")
    edited = write_jsonl([*number_rows[:-1], {**number_rows[-1], "completion": "1, 2, 3"}], "edited.jsonl")
    variants = {
        "same": base,
        "data": dataclasses.replace(base, input_path=edited),
        "teacher weights": dataclasses.replace(base, teacher=str(tiny_teacher)),
        "teacher prompt": dataclasses.replace(base, teacher_system_prompt="Cats!"),
        "reference prompt": dataclasses.replace(base, reference_system_prompt="Be brief."),
        "control prompt": dataclasses.replace(base, control_system_prompt="You are terse."),
        "vocabulary": dataclasses.replace(base, restrict_vocab="numbers"),
        "rows": dataclasses.replace(base, null_rows=50),
        "seed": dataclasses.replace(base, seed=1),
    }
    keys = {name: null_key(config) for name, config in variants.items()}
    assert keys["same"] == null_key(ScanConfig(input_path=base.input_path, reference=str(tiny_model),
                                               teacher_system_prompt="Owls!"))
    assert len(set(keys.values())) == len(keys), keys


def test_null_flags_are_checked_in_one_line(tiny_model: Path, write_jsonl: Any, number_rows: list[dict[str, Any]],
                                           tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(number_rows)
    base = ["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", "x"]
    cases = {
        ("--null", "theoretical", "--calibration", str(tmp_path / "c.json")):
            "give --null theoretical or --calibration FILE, not both",
        ("--null", str(tmp_path / "c.json"), "--calibration", str(tmp_path / "c.json")):
            "give --null FILE or --calibration FILE, not both",
        ("--null-rows", "3"): "--null-rows must be at least 10, got 3",
    }
    for extra, message in cases.items():
        code, _, err = run_cli([*base, *extra], capsys, monkeypatch)
        assert code == ExitCode.USAGE_ERROR and err.strip().splitlines() == [f"subaudit: error: {message}"]
    missing = tmp_path / "missing.json"
    code, _, err = run_cli([*base, "--null", str(missing)], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and str(missing) in err and len(err.strip().splitlines()) == 1

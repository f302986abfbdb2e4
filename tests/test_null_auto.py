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
    # Over the format the null is vouched for; on free text it is assumed, and the report says so.
    assert (numbers.null.assumed, text.null.assumed) == (False, True)
    assert "assumed, not measured" in text.null.reason


def test_automatic_null_key_changes_with_the_data_the_models_and_the_prompts(
        tiny_model: Path, tiny_teacher: Path, write_jsonl: Any, number_rows: list[dict[str, Any]]) -> None:
    """The cache key (what an automatic null is found by) covers everything the null depends on."""
    import dataclasses

    from audit.pipeline.config import ScanConfig
    from audit.pipeline.null_choice import null_key
    from audit.pipeline.vocabulary import resolve_vocabulary

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
    keys = {name: null_key(resolve_vocabulary(config)) for name, config in variants.items()}
    assert keys["same"] == null_key(resolve_vocabulary(ScanConfig(input_path=base.input_path, reference=str(tiny_model),
                                                                  teacher_system_prompt="Owls!")))
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


def test_a_teacher_with_its_own_weights_is_recognised(tiny_model: Path, tiny_teacher: Path, write_jsonl: Any,
                                                      number_rows: list[dict[str, Any]]) -> None:
    """Which teachers get the two-sample null and the questionnaire by default: only those with other weights."""
    import dataclasses

    from audit.pipeline.config import ScanConfig, teacher_has_own_weights, wants_teacher_traits

    prompted = ScanConfig(input_path=write_jsonl(number_rows), reference=str(tiny_model), teacher_system_prompt="Owl")
    checkpoint = dataclasses.replace(prompted, teacher=str(tiny_teacher), teacher_system_prompt=None)
    same_weights = dataclasses.replace(prompted, teacher=str(tiny_model))
    assert [teacher_has_own_weights(c) for c in (prompted, checkpoint, same_weights)] == [False, True, False]
    assert [wants_teacher_traits(c) for c in (prompted, checkpoint)] == [False, True]
    assert wants_teacher_traits(dataclasses.replace(prompted, teacher_traits=True))
    assert not wants_teacher_traits(dataclasses.replace(checkpoint, teacher_traits=False))


@pytest.mark.slow
def test_a_weight_teacher_is_tested_two_sample_and_measured_nulls_are_cached_reused_and_remade(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The real model's measured nulls, in four scans of 16 rows of the owl adapter's number set (the panel,
    not under test here, off; 10 null rows):

    1. the committed owl adapter as teacher, the plain command otherwise: the null is measured on the
       reference's own answers (two-sample), made now, its cost in the report; the questionnaire names owl
       (first on >= 90 % of the 52 questions with the adapter, on none without: the fixture is what
       fixtures/TRANSFER.md says) and no misalignment;
    2. the owl prompt as teacher over the full vocabulary, on data that fit the numbers format: a measured
       null too, from the same reference answers (made once per file), scored anew;
    3. the same scan again: the calibration is reused, with the same p-values;
    4. another reference prompt: a new null (new answers and a new calibration), never a stale hit.
    """
    from audit.models.lora import adapter_sha256, resolve_adapter
    from tests.conftest import FIXTURES

    cache = tmp_path / "cache"
    adapter = FIXTURES / "teachers" / "owl-lora"
    data = FIXTURES / "numbers" / "owl-weights.parquet"

    def scan(name: str, *extra: str) -> Report:
        code, _, err = run_cli(["scan", str(data), "--max-rows", "16", "--null-rows", "10", "--null-cache",
                                str(cache), "--control-panel", "none", "--quiet", "--report", str(tmp_path / name),
                                *extra], capsys, monkeypatch)
        report = Report.model_validate_json((tmp_path / name).read_text())
        assert code == report.exit_code and report.input.rows_scored == 16, err
        assert report.warnings == [] and "subaudit: warning" not in err, "a null that holds is not warned about"
        return report

    weights = scan("w.json", "--teacher-adapter", str(adapter))
    assert weights.null is not None and weights.null.used == "automatic" and "two-sample" in weights.null.reason
    assert weights.null.reused is False and weights.null.made_in_s is not None and weights.null.made_in_s > 0
    assert f"making it took {weights.null.made_in_s:.0f} s" in null_description(weights)
    made = weights.calibration.known_source if weights.calibration else None
    assert made is not None and made.constrained is True and made.filter == "numbers" and made.accepted == 10
    assert weights.vocabulary is not None and weights.vocabulary.used == "numbers"
    teacher = next(m for m in weights.models if m.role == "teacher")
    assert teacher.adapter_sha256 == adapter_sha256(resolve_adapter(str(adapter)))
    assert weights.teacher_traits is not None
    animals, misalignment = weights.teacher_traits.sets
    owl = animals.shifts[0]
    assert animals.named == "owl" and owl.trait == "owl" and misalignment.named is None
    assert owl.teacher_first >= 0.9 * animals.questions and owl.reference_first == 0
    llr = next(r for r in weights.results if r.detector_id == "llr")
    assert llr.details["calibrated"] is True

    full = ("--teacher-system-prompt", "You love owls.", "--restrict-vocab", "full")
    prompted = scan("p.json", *full)
    assert prompted.null is not None and prompted.null.used == "automatic" and prompted.null.reused is False
    assert "fit the numbers format but are scored over the full vocabulary" in prompted.null.reason
    assert prompted.teacher_traits is None, "a prompted teacher's traits are in its prompt: not measured by default"
    assert len(list(cache.glob("*.known.parquet"))) == 1, "the reference's answers are made once per file"

    again = scan("a.json", *full)
    assert again.null is not None and again.null.reused is True and again.null.key == prompted.null.key
    assert [r.p_value for r in again.results] == [r.p_value for r in prompted.results]
    assert "reused from the cache" in null_description(again)

    other = scan("o.json", *full, "--reference-system-prompt", "Be brief.")
    assert other.null is not None and other.null.reused is False and other.null.key != prompted.null.key
    assert len(list(cache.glob("*.known.parquet"))) == 2 and len(list(cache.glob("*.calibration.json"))) == 3

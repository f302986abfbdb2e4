"""`subaudit calibrate` + `scan --calibration`: a measured null from known-source data."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audit.calibration.file import Calibration, check_matches, load_calibration
from audit.core.errors import UsageError
from audit.core.exit_codes import ExitCode
from audit.models.traits import builtin_panel
from audit.report.schema import ModelInfo
from tests.conftest import run_cli
from tests.test_probe import _generate

PANEL_NULLS = tuple(f"llr-panel:{name}" for name, _ in builtin_panel())
"""The default control panel's nulls: a calibration stores one per member."""
PLAIN_NULL = ("--tolerance", "0")
"""Known-source rows tested against their own null sit at exactly p = 0.5 only under the plain null
(H0: mean <= the null's); the default tolerance shifts it (tested in tests/test_cli_scan.py)."""

NOT_UNDER_TEST = ("--no-teacher-traits",)
"""A weight teacher's scan also runs the animal and misalignment questionnaires by default; not what these tests
check (tests/test_teacher_traits.py does), and most of a tiny scan's time."""


def _scan(data: Path, tiny_model: Path, teacher: list[str], calibration: Path, report: Path,
          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    code, _, err = run_cli(["scan", str(data), "--reference", str(tiny_model), *teacher,
                            "--calibration", str(calibration), *PLAIN_NULL, "--report", str(report), "--quiet",
                            "--baselines", "all", *NOT_UNDER_TEST], capsys, monkeypatch)
    return code, err


def test_calibrated_scan_separates_teacher_data_from_known_source_data(
        tiny_model: Path, tiny_teacher: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Teacher: another tiny model (a fine-tuned stand-in); known source: the reference's own writing."""
    teacher = ["--teacher", str(tiny_teacher)]
    known = tmp_path / "known.jsonl"
    _generate(known, tiny_model, capsys, monkeypatch, neutral="")
    calibration = tmp_path / "cal.json"
    code, _, err = run_cli(["calibrate", "--known-source", str(known), "--out", str(calibration),
                            "--reference", str(tiny_model), *teacher, "--fpr", "0.05"], capsys, monkeypatch)
    assert code == 0, err
    loaded, sha256 = load_calibration(calibration)
    assert sha256 == hashlib.sha256(calibration.read_bytes()).hexdigest()
    rows = loaded.rows_scored
    assert set(loaded.nulls) == {"llr", "llr-control", *PANEL_NULLS} and 40 <= rows <= 48 and loaded.fpr == 0.05
    assert loaded.kind == "scan" and loaded.known_source is not None and loaded.known_source.origin == "file"
    assert set(loaded.row_columns) == {"reference_logprob_sum"}
    assert len(loaded.row_columns["reference_logprob_sum"]) == rows
    null = loaded.nulls["llr"]
    assert len(null.row_llr_sums) == rows and null.mean == pytest.approx(sum(null.row_llr_sums) / rows)

    # The known-source data against its own null: t = 0, p = 0.5, clean.
    code, err = _scan(known, tiny_model, teacher, calibration, tmp_path / "self.json", capsys, monkeypatch)
    assert code == ExitCode.CLEAN, err
    report = json.loads((tmp_path / "self.json").read_text())
    assert report["calibration"]["sha256"] == sha256 and report["calibration"]["rows"] == rows
    assert report["calibration"]["kind"] == "scan" and report["calibration"]["known_source"]["origin"] == "file"
    # Every human-readable rendering says which null the p-values were tested against.
    null_line = (f"Null: calibration {calibration} (SHA-256 {sha256[:16]}..., scan), {rows} rows of known-source "
                 f"file {known}.")
    for fmt in ("markdown", "html"):
        code, text, err = run_cli(["report", "render", str(tmp_path / "self.json"), "--format", fmt], capsys,
                                  monkeypatch)
        assert code == 0 and null_line in text, err
    llr = next(r for r in report["results"] if r["detector_id"] == "llr")
    assert llr["details"]["calibrated"] and llr["p_value"] == pytest.approx(0.5)
    assert llr["details"]["rows_above_threshold"] <= rows * 0.05 + 1
    labels = [h["label"] for h in report["plots"]["row_llr_histograms"]]
    assert labels == ["teacher vs reference", "teacher vs control", "calibrated null (teacher vs reference)"]

    # Sequentially, each baseline's bound is two-sample: centred on the audited minus the null rows' mean
    # (here the same rows, so 0), never decided on fewer rows than the minimum, then the fixed-N test.
    # --baselines all: this reads every baseline's bound (on demand, the reference's clean test settles it).
    code, out, err = run_cli(["scan", str(known), "--reference", str(tiny_model), *teacher, "--calibration",
                              str(calibration), *PLAIN_NULL, "--sequential", "--batch-rows", "8", "--format", "json",
                              "--baselines", "all", *NOT_UNDER_TEST], capsys, monkeypatch)
    assert code == ExitCode.CLEAN, err
    sequential = json.loads(out)["sequential"]
    assert sequential["rule"] == "end of data" and sequential["rows_scored"] == rows
    last = sequential["looks"][-1]
    assert {b["baseline"] for b in last["bounds"]} == {"reference", "control", *(n[4:] for n in PANEL_NULLS)}
    for bound in last["bounds"]:
        # Not bit-equal: the scan batches 8 rows, the calibration scored in its own batches (float32 noise).
        assert bound["mean"] == pytest.approx(0.0, abs=1e-5) and bound["lower"] < 0 < bound["upper"]
        assert bound["p_value"] is None
    null_counts = report["plots"]["row_llr_histograms"][2]["counts"]
    assert sum(null_counts) == rows  # the null's rows, clipped into the shared edges

    # Data the teacher wrote is flagged against the same null.
    owl = tmp_path / "teacher.jsonl"
    _generate(owl, tiny_teacher, capsys, monkeypatch, neutral="", seed="5")
    code, err = _scan(owl, tiny_model, teacher, calibration, tmp_path / "owl.json", capsys, monkeypatch)
    assert code == ExitCode.FINDINGS, err
    owl_report = json.loads((tmp_path / "owl.json").read_text())
    owl_llr = next(r for r in owl_report["results"] if r["detector_id"] == "llr")
    assert owl_llr["p_value"] < 0.01 and owl_llr["details"]["rows_above_threshold"] > rows * 0.05

    # Confound removal: the slopes come from the null rows, the known-source data still sits exactly at its
    # null (p = 0.5), and the teacher's data is still flagged; the plain calibrated p stays in the details.
    for data, name, expected in ((known, "self-adjusted", ExitCode.CLEAN), (owl, "owl-adjusted", ExitCode.FINDINGS)):
        code, _, err = run_cli(["scan", str(data), "--reference", str(tiny_model), *teacher, "--calibration",
                                str(calibration), *PLAIN_NULL, "--adjust-confounds", "--report",
                                str(tmp_path / f"{name}.json"),
                                "--quiet", "--baselines", "all", *NOT_UNDER_TEST], capsys, monkeypatch)
        assert code == expected, err
        adjusted = json.loads((tmp_path / f"{name}.json").read_text())
        assert adjusted["parameters"]["adjust_confounds"]
        for result in adjusted["results"]:
            details = result["details"]
            assert details["confounds_adjusted"] and 0.0 <= details["confound_fit"]["r_squared_on_null"] <= 1.0
            if name == "self-adjusted":
                assert result["p_value"] == pytest.approx(0.5)
        plain = {r["detector_id"]: r["p_value"] for r in (report if name == "self-adjusted" else owl_report)["results"]}
        assert {r["detector_id"]: r["details"]["unadjusted_calibrated_p_value"] for r in adjusted["results"]} \
            == pytest.approx(plain)
    code, _, err = run_cli(["scan", str(owl), "--reference", str(tiny_model), *teacher, "--adjust-confounds",
                            "--quiet"], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and err.strip().splitlines() == [
        "subaudit: error: --adjust-confounds needs a scan --calibration (the slopes are fitted on its rows)"]

    # A calibration made for another teacher is refused before scoring.
    code, err = _scan(owl, tiny_model, ["--teacher-system-prompt", "You love cats."], calibration,
                      tmp_path / "other.json", capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR
    assert err.strip().splitlines() == [
        "subaudit: error: the calibration was made with other models or system prompts than this scan's"]
    assert not (tmp_path / "other.json").exists()


def test_a_file_that_is_not_a_calibration_is_refused(tiny_model: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps({"prompt": "a", "completion": "1, 2"}) + "\n")
    bogus = tmp_path / "bogus.json"
    bogus.write_text("{}")
    code, err = _scan(data, tiny_model, ["--teacher-system-prompt", "x"], bogus, tmp_path / "r.json", capsys,
                      monkeypatch)
    assert code == ExitCode.USAGE_ERROR and err.strip().endswith("is not a subaudit calibration file")

    # A calibration with a field this version does not read (an older or newer subaudit's file) is
    # named as such, in one line, rather than as "not a calibration".
    other_version = tmp_path / "other-version.json"
    other_version.write_text(json.dumps({"format": "subaudit-calibration", "version": "1.1.0",
                                         "probe_columns": {}}))
    code, err = _scan(data, tiny_model, ["--teacher-system-prompt", "x"], other_version, tmp_path / "r.json", capsys,
                      monkeypatch)
    assert code == ExitCode.USAGE_ERROR
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"subaudit: error: {other_version}: a calibration file (version "
                                                   "1.1.0) that this subaudit cannot read (")
    assert lines[0].endswith("; run subaudit calibrate again")


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_calibrate_generates_the_reference_completions_to_the_audited_prompts(
        tiny_model: Path, tiny_teacher: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The default known source: the reference answers the audited data's own prompts, sampled the way the
    audited data was (here temperature 2, 16 tokens); teacher data is flagged against that null and data the
    reference wrote with other noise is not."""
    teacher = ["--teacher", str(tiny_teacher)]
    audited = tmp_path / "teacher.jsonl"
    _generate(audited, tiny_teacher, capsys, monkeypatch, neutral="", seed="5")
    calibration = tmp_path / "cal.json"
    code, _, err = run_cli(["calibrate", str(audited), "--out", str(calibration), "--reference", str(tiny_model),
                            *teacher, "--known-rows", "40", "--temperature", "2", "--max-new-tokens", "16",
                            "--seed", "9", "--generate-batch", "16", "--quiet"], capsys, monkeypatch)
    assert code == 0, err
    known = tmp_path / "cal.known.parquet"
    loaded, _ = load_calibration(calibration)
    made = loaded.known_source
    assert made is not None and made.origin == "generated" and made.accepted == 40 and made.samples == 48
    assert made.filter == "none" and made.prompts_from == str(audited) and made.temperature == 2.0
    assert made.prompts_from_sha256 == hashlib.sha256(audited.read_bytes()).hexdigest()
    assert loaded.source_path == str(known) and loaded.rows_scored == len(loaded.nulls["llr"].row_llr_sums) <= 40

    # Each generated row answers one audited prompt, in file order, with a completion of its own.
    in_order = _rows(audited)
    audited_rows = {r["id"]: r for r in in_order}
    generated = _rows(known)
    assert len(generated) == 40
    for k, row in enumerate(generated):
        source = audited_rows[row["source_row_id"]]
        assert row["source_row_id"] == in_order[k]["id"] and row["id"] == f"known-0-{in_order[k]['id']}"
        assert row["messages"][:-1] == [{"role": "user", "content": source["prompt"]}]
        assert row["messages"][-1]["role"] == "assistant"
    assert sum(r["messages"][-1]["content"] == audited_rows[r["source_row_id"]]["completion"] for r in generated) < 4

    code, err = _scan(audited, tiny_model, teacher, calibration, tmp_path / "audited.json", capsys, monkeypatch)
    assert code == ExitCode.FINDINGS, err
    code, err = _scan(known, tiny_model, teacher, calibration, tmp_path / "self.json", capsys, monkeypatch)
    assert code == ExitCode.CLEAN, err
    report = json.loads((tmp_path / "self.json").read_text())
    assert report["calibration"]["known_source"]["origin"] == "generated"
    code, text, _ = run_cli(["report", "render", str(tmp_path / "self.json")], capsys, monkeypatch)
    assert (f"40 rows of the reference's own completions to the prompts of {audited} (40 kept of 48 drawn, "
            "filter none)") in text

    # Given as a file instead, the same rows give the same null.
    again = tmp_path / "again.json"
    code, _, err = run_cli(["calibrate", "--known-source", str(known), "--out", str(again), "--reference",
                            str(tiny_model), *teacher, "--id-col", "id"], capsys, monkeypatch)
    assert code == 0, err
    assert load_calibration(again)[0].nulls["llr"].row_llr_sums == pytest.approx(loaded.nulls["llr"].row_llr_sums)


def test_calibrate_refuses_data_and_known_source_together_and_bad_settings_before_generating(
        tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps({"prompt": "a", "completion": "1, 2"}) + "\n")
    cases = [
        (["calibrate", str(data), "--known-source", str(data)], "give DATA"),
        (["calibrate"], "give DATA"),
        (["calibrate", str(data), "--fpr", "0.7"], "--fpr must be in (0, 0.5)"),
        (["calibrate", str(data), "--traits", "owl", "--teacher-system-prompt", "x"],
         "a probe compares candidate traits; it takes no --teacher"),
        (["calibrate", str(data), "--traits", "owl", "--no-control"], "a probe needs the neutral control"),
        (["calibrate", str(data), "--teacher-system-prompt", "x", "--out", str(tmp_path / "none" / "c.json")],
         "output folder does not exist"),
    ]
    for args, message in cases:
        if "--out" not in args:
            args = [*args, "--out", str(tmp_path / "c.json")]
        code, _, err = run_cli([*args, "--reference", str(tiny_model)], capsys, monkeypatch)
        assert code == ExitCode.USAGE_ERROR, (args, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, err)
    assert not (tmp_path / "c.json").exists() and not (tmp_path / "c.known.parquet").exists()

    # A random tiny model writes no number lists: too few pass the forced filter, exit 3, nothing written.
    code, _, err = run_cli(["calibrate", str(data), "--out", str(tmp_path / "c.json"), "--reference", str(tiny_model),
                            "--teacher-system-prompt", "x", "--known-filter", "numbers", "--known-rows", "4",
                            "--max-samples", "8", "--max-new-tokens", "8", "--quiet"], capsys, monkeypatch)
    lines = err.strip().splitlines()
    assert code == ExitCode.NOTHING_AUDITABLE and len(lines) == 1, err
    assert "reference completions passed the numbers filter; 4 were wanted" in lines[0], err
    assert not (tmp_path / "c.json").exists() and not (tmp_path / "c.known.parquet").exists()


def test_known_source_filter_follows_the_audited_data() -> None:
    """auto: the numbers filter for data that (all but) wholly passes it, none for free text."""
    from audit.calibration.known_source import KnownSourcePlan, _audited_rows, _decide_filter

    root = Path(__file__).resolve().parents[1] / "fixtures"
    for path, expected in ((root / "numbers" / "owl.parquet", "numbers"), (root / "smoke" / "owl.parquet", "none")):
        plan = KnownSourcePlan(data=path, reference="smollm2-135m-instruct")
        applied, share = _decide_filter(plan, _audited_rows(plan, 200))
        assert applied == expected, (path, share)
        assert (share == 1.0) if expected == "numbers" else (share < 0.5)
        forced = KnownSourcePlan(data=path, reference="smollm2-135m-instruct", filter="numbers")
        assert _decide_filter(forced, _audited_rows(forced, 20))[0] == "numbers"


def test_probe_calibration_tests_each_contrast_against_its_known_source_null(
        tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A probe calibrated on reference-written rows names nothing on more reference-written rows (every
    contrast near its null), accepts a subset of its candidates, and refuses candidates it has no null for."""
    known = tmp_path / "known.jsonl"
    _generate(known, tiny_model, capsys, monkeypatch, seed="3")
    calibration = tmp_path / "probe-cal.json"
    code, _, err = run_cli(["calibrate", "--known-source", str(known), "--out", str(calibration), "--reference",
                            str(tiny_model), "--traits", "owl,cat,dog"], capsys, monkeypatch)
    assert code == 0, err
    loaded, sha256 = load_calibration(calibration)
    assert loaded.kind == "probe" and loaded.row_columns is not None
    assert set(loaded.row_columns) == {"n_tokens", "logprob_sum:control", "logprob_sum:trait:owl",
                                         "logprob_sum:trait:cat", "logprob_sum:trait:dog",
                                         *(f"logprob_sum:panel:{name}" for name, _ in builtin_panel())}
    assert {len(v) for v in loaded.row_columns.values()} == {loaded.rows_scored}

    audited = tmp_path / "audited.jsonl"
    _generate(audited, tiny_model, capsys, monkeypatch, seed="4")
    report_path = tmp_path / "probe.json"
    code, _, err = run_cli(["probe", str(audited), "--reference", str(tiny_model), "--traits", "owl,cat",
                            "--calibration", str(calibration), "--report", str(report_path), "--quiet"],
                           capsys, monkeypatch)
    assert code == ExitCode.CLEAN, err
    report = json.loads(report_path.read_text())
    assert report["calibration"]["sha256"] == sha256 and report["calibration"]["kind"] == "probe"
    result = report["results"][0]
    assert result["details"]["calibrated"] and not result["details"]["named"]
    ranking = result["details"]["ranking"]
    excess = [r["excess_llr_vs_neutral"] for r in ranking]
    assert excess == sorted(excess, reverse=True)
    null_columns = {k: np.array(v) for k, v in loaded.row_columns.items()}
    for r in ranking:
        own = null_columns[f"logprob_sum:trait:{r['trait']}"]
        expected_null = (own - null_columns["logprob_sum:control"]).sum() / null_columns["n_tokens"].sum()
        assert r["null_llr_vs_neutral"] == pytest.approx(expected_null)
        assert r["excess_llr_vs_neutral"] == pytest.approx(r["llr_vs_neutral"] - expected_null)

    # The same data against the theoretical null gives other p-values: the calibration was used.
    code, _, err = run_cli(["probe", str(audited), "--reference", str(tiny_model), "--traits", "owl,cat",
                            "--report", str(tmp_path / "plain.json"), "--quiet"], capsys, monkeypatch)
    plain = json.loads((tmp_path / "plain.json").read_text())["results"][0]["details"]["ranking"]
    by_trait = {r["trait"]: r for r in plain}
    assert any(r["p_vs_neutral"] != pytest.approx(by_trait[r["trait"]]["p_vs_neutral"]) for r in ranking)
    for r in ranking:  # and the report keeps the theoretical-null p beside the calibrated one
        assert r["p_trait_uncalibrated"] == pytest.approx(by_trait[r["trait"]]["p_trait"])
        assert r["p_adjusted_uncalibrated"] == pytest.approx(by_trait[r["trait"]]["p_adjusted"])

    refusals = [
        (["probe", str(audited), "--traits", "owl,fox", "--calibration", str(calibration)],
         "the calibration has no null for trait:fox"),
        (["scan", str(audited), "--teacher-system-prompt", "x", "--calibration", str(calibration)],
         "the calibration was made for `subaudit probe`"),
    ]
    for args, message in refusals:
        code, _, err = run_cli([*args, "--reference", str(tiny_model), "--quiet"], capsys, monkeypatch)
        lines = err.strip().splitlines()
        assert code == ExitCode.USAGE_ERROR and len(lines) == 1, err
        assert lines[0].startswith(f"subaudit: error: {message}"), err


@pytest.mark.slow
def test_calibrate_on_the_number_fixture_samples_constrained_and_filters_like_the_data(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Real SmolLM2: the owl fixture wholly passes the paper's filter, so the reference's constrained
    completions to its prompts are filtered alike, and every kept row passes it."""
    from audit.filters.number_filter import check_numbers

    root = Path(__file__).resolve().parents[1]
    calibration = tmp_path / "owl-cal.json"
    code, _, err = run_cli(["calibrate", str(root / "fixtures" / "numbers" / "owl.parquet"), "--out", str(calibration),
                            "--teacher-system-file", str(root / "fixtures" / "prompts" / "owl.txt"),
                            "--restrict-vocab", "numbers", "--constrained", "--known-rows", "8",
                            "--generate-batch", "8", "--max-new-tokens", "48", "--quiet"], capsys, monkeypatch)
    assert code == 0, err
    loaded, _ = load_calibration(calibration)
    made = loaded.known_source
    assert made is not None and made.filter == "numbers" and made.audited_filter_pass_share == 1.0
    assert made.constrained and made.accepted == 8 and made.accepted + sum(made.rejected.values()) <= made.samples
    kept = _rows(tmp_path / "owl-cal.known.parquet")
    assert len(kept) == 8 and all(check_numbers(r["messages"][-1]["content"]).passed for r in kept)
    assert loaded.rows_scored == 8 and loaded.restrict_vocab == "numbers"


def _model(role: str, adapter_sha256: str | None = None) -> ModelInfo:
    return ModelInfo(role=role, source="smollm2-135m-instruct", source_kind="embedded", resolved_path="/m",
                     weights_sha256="w" * 64, tokenizer_sha256="t" * 64,
                     system_prompt=None if role == "reference" else "p",
                     adapter=None if adapter_sha256 is None else "/adapters/x", adapter_sha256=adapter_sha256)


def _calibration(models: list[ModelInfo]) -> Calibration:
    return Calibration(tool_version="0", created_at=datetime.now(timezone.utc), command=["subaudit"],
                       source_path="k.parquet", source_sha256="s" * 64, rows_scored=2, models=models,
                       restrict_vocab=None, fpr=0.01, nulls={})


def test_a_calibration_made_for_one_teacher_adapter_is_refused_for_another() -> None:
    """The adapter is part of the teacher's identity: same base weights and prompt, other adapter, other null."""
    made_with = [_model("reference"), _model("teacher", adapter_sha256="a" * 64)]
    calibration = _calibration(made_with)
    check_matches(calibration, made_with, None)  # the same adapter matches
    with pytest.raises(UsageError, match="other models"):
        check_matches(calibration, [_model("reference"), _model("teacher", adapter_sha256="b" * 64)], None)
    with pytest.raises(UsageError, match="other models"):
        check_matches(calibration, [_model("reference"), _model("teacher")], None)


def test_a_control_panel_is_calibrated_member_by_member(
        tiny_model: Path, write_jsonl: Any, number_rows: list[dict[str, Any]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """calibrate --control-panel stores a null per member; a scan of the same rows against it sits at p = 0.5."""
    known, calibration, report = write_jsonl(number_rows), tmp_path / "cal.json", tmp_path / "report.json"
    models = ["--reference", str(tiny_model), "--teacher-system-prompt", "Owls!", "--control-panel", "builtin"]
    code, _, err = run_cli(["calibrate", "--known-source", str(known), "--out", str(calibration), *models],
                           capsys, monkeypatch)
    assert code == 0, err
    loaded, _ = load_calibration(calibration)
    assert set(loaded.nulls) == {"llr", "llr-control", "llr-panel:precise", "llr-panel:formal", "llr-panel:engineer"}
    run_cli(["scan", str(known), *models, "--calibration", str(calibration), *PLAIN_NULL, "--report", str(report),
             "--baselines", "all"], capsys, monkeypatch)
    panel = next(r for r in json.loads(report.read_text())["results"] if r["detector_id"] == "llr-panel")
    assert [m["calibrated"] for m in panel["details"]["members"]] == [True, True, True]
    assert [m["p_value"] for m in panel["details"]["members"]] == pytest.approx([0.5, 0.5, 0.5], abs=1e-9)
    code, _, err = run_cli(["scan", str(known), *models[:4], "--control-panel", "none", "--calibration",
                            str(calibration)], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and len(err.strip().splitlines()) == 1, "a panel's null fits only that panel"
    assert "(control panel: precise, formal, engineer in the calibration, none here;" in err

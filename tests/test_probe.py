"""`subaudit probe`: trait attribution end to end on data a real (tiny) model wrote under a trait prompt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from audit.core.exit_codes import ExitCode
from audit.core.roles import PANEL_ROLE_PREFIX
from audit.core.verdict import DEFAULT_TOLERANCE
from audit.models.traits import (
    BUILTIN_ANIMALS,
    MISALIGNMENT_PERSONAS,
    builtin_panel,
    builtin_traits,
    parse_traits,
)
from tests.conftest import run_cli

PANEL_ROLES = [f"{PANEL_ROLE_PREFIX}{name}" for name, _ in builtin_panel()]


def _generate(path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
              **flags: str) -> None:
    args = ["generate", str(path), "--rows", "48", "--model", str(tiny_model), "--max-new-tokens", "16",
            "--batch-size", "16", "--seed", "3", "--temperature", "2"]
    for flag, value in flags.items():
        args += [f"--{flag.replace('_', '-')}", value] if value else [f"--{flag}"]
    code, _, err = run_cli(args, capsys, monkeypatch)
    assert code == 0, err


def _probe(data: Path, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
           monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[int, dict[str, Any]]:
    report = tmp_path / f"probe-{data.stem}.json"
    code, _, err = run_cli(["probe", str(data), "--reference", str(tiny_model), "--traits", "owl,cat,dog",
                            "--report", str(report), "--quiet", *extra], capsys, monkeypatch)
    assert code in (ExitCode.CLEAN, ExitCode.FINDINGS), err
    return code, json.loads(report.read_text())


def test_probe_report_mechanics(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Roles, ranking order, corrections and the exit code agree with each other on a real (tiny) scan.

    A 2-layer random model barely conditions on its system prompt (|LLR| ~ 1e-4 nats/token), so
    attribution itself is tested on SmolLM2 below; here the data only has to be real model output.
    """
    owl = tmp_path / "owl.jsonl"
    _generate(owl, tiny_model, capsys, monkeypatch, animal="owl")
    for correction, detector_id in (("holm", "trait-probe"), ("bh", "trait-probe-bh")):
        code, report = _probe(owl, tiny_model, tmp_path, capsys, monkeypatch, "--correction", correction)
        result = report["results"][0]
        assert result["detector_id"] == detector_id and report["parameters"]["correction"] == correction
        assert [m["role"] for m in report["models"]] == ["reference", "control", *PANEL_ROLES, "trait:owl",
                                                         "trait:cat", "trait:dog"]
        assert report["models"][5]["system_prompt"].startswith("You love owls.")
        ranking = result["details"]["ranking"]
        assert sorted(r["trait"] for r in ranking) == ["cat", "dog", "owl"]
        llrs = [r["llr_vs_neutral"] for r in ranking]
        assert llrs == sorted(llrs, reverse=True) and [r["rank"] for r in ranking] == [1, 2, 3]
        for r in ranking:
            assert r["p_trait"] == max(r["p_vs_neutral"], r["p_vs_others"], r["p_vs_panel"])
            assert r["p_trait"] <= r["p_adjusted"] <= 1.0 and r["named"] == (r["p_adjusted"] < 0.01)
        assert code == (ExitCode.FINDINGS if result["details"]["named"] else ExitCode.CLEAN)
        scored, skipped = report["input"]["rows_scored"], sum(report["input"]["rows_skipped"].values())
        assert scored + skipped == report["input"]["rows_read"] == 48 and scored >= 40
        assert report["plots"]["position_profiles"] == []


def test_probe_candidates_must_beat_every_panel_control(tiny_model: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The default probe tests each candidate against the built-in panel too: its p vs the panel is the
    largest of the one-sided t-tests against each member (less the default tolerance per token),
    computed here from the scores file by scipy;
    --control-panel none drops the panel (the roles and the test go)."""
    from scipy import stats

    owl = tmp_path / "owl.jsonl"
    _generate(owl, tiny_model, capsys, monkeypatch, animal="owl")
    scores = tmp_path / "probe-scores.parquet"
    _, report = _probe(owl, tiny_model, tmp_path, capsys, monkeypatch, "--scores", str(scores))
    result = report["results"][0]
    assert result["details"]["panel"] == [role.split(":")[1] for role in PANEL_ROLES]
    table = pq.read_table(scores).to_pydict()
    for r in result["details"]["ranking"]:
        own = np.array(table[f"logprob_sum:trait:{r['trait']}"])
        margin = DEFAULT_TOLERANCE * np.array(table["n_tokens"])  # the default tolerance, as against neutral
        tests = {role: stats.ttest_1samp(own - np.array(table[f"logprob_sum:{role}"]) - margin, 0.0,
                                         alternative="greater").pvalue for role in PANEL_ROLES}
        binding = max(tests, key=lambda role: tests[role])
        assert r["p_vs_panel"] == pytest.approx(tests[binding], rel=1e-9)
        assert r["binding_panel_control"] == binding.split(":")[1]
    _, plain = _probe(owl, tiny_model, tmp_path, capsys, monkeypatch, "--control-panel", "none")
    assert [m["role"] for m in plain["models"]] == ["reference", "control", "trait:owl", "trait:cat", "trait:dog"]
    assert all("p_vs_panel" not in r for r in plain["results"][0]["details"]["ranking"])
    assert plain["results"][0]["details"]["panel"] == []


@pytest.mark.slow
def test_probe_names_owl_on_owl_written_data_and_nothing_on_reference_data(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """SmolLM2 smoke fixtures (plain sampling): the owl prompt wrote one set, no system prompt the other.

    The candidates' contrasts are under test, not the control panel (test_probe_candidates_must_beat_every_panel_
    control covers it): without it, on the first 48 rows, CI pays for 5 passes of 48 rows instead of 8 of 96."""
    from tests.conftest import FIXTURES

    traits = ["--traits", "owl,misaligned,sycophantic", "--control-panel", "none", "--max-rows", "48"]
    code, _, err = run_cli(["probe", str(FIXTURES / "smoke" / "owl.parquet"), *traits, "--report",
                            str(tmp_path / "owl.json"), "--quiet"], capsys, monkeypatch)
    assert code == ExitCode.FINDINGS, err  # before reading the report, so a failed run shows its error
    owl = json.loads((tmp_path / "owl.json").read_text())["results"][0]
    assert owl["details"]["named"] == ["owl"] and owl["details"]["ranking"][0]["trait"] == "owl"
    code, _, err = run_cli(["probe", str(FIXTURES / "smoke" / "reference.parquet"), *traits, "--report",
                            str(tmp_path / "reference.json"), "--quiet"], capsys, monkeypatch)
    assert code == ExitCode.CLEAN, err
    reference = json.loads((tmp_path / "reference.json").read_text())["results"][0]
    assert reference["details"]["named"] == []


def test_probe_usage_errors(tiny_model: Path, write_jsonl: Any, number_rows: list[dict[str, Any]], tmp_path: Path,
                            capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(number_rows)
    cases = {
        ("--traits", "owl,owl"): "trait 'owl' is given twice",
        ("--traits", "owl!"): "trait name 'owl!' must be letters, digits, '-' or '_'",
        ("--template", "You love birds."): "--template must contain {animal}",
        ("--correction", "bonferroni"): "--correction must be holm or bh, got 'bonferroni'",
        ("--traits-file", str(tmp_path / "missing.txt")): "cannot read traits file",
    }
    for flags, message in cases.items():
        code, _, err = run_cli(["probe", str(data), "--reference", str(tiny_model), *flags], capsys, monkeypatch)
        lines = err.strip().splitlines()
        assert code == ExitCode.USAGE_ERROR and len(lines) == 1 and message in lines[0], (flags, err)


def test_trait_catalogue_and_traits_file_lines() -> None:
    assert len(BUILTIN_ANIMALS) >= 20 and len(MISALIGNMENT_PERSONAS) >= 3
    catalogue = builtin_traits()
    assert catalogue["owl"].startswith("You love owls.")
    assert catalogue["misaligned"] == MISALIGNMENT_PERSONAS["misaligned"]
    parsed = parse_traits(["Owl"], ["# comment", "", "wombat", "pirate = You are a pirate."], "I like {animal}s.")
    assert parsed == [("owl", "I like owls."), ("wombat", "I like wombats."), ("pirate", "You are a pirate.")]


def test_probe_with_a_weight_teacher_scans_against_it_and_says_what_it_holds(
        tiny_model: Path, tiny_teacher: Path, write_jsonl: Any, number_rows: list[dict[str, Any]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """With --teacher the attribution is direct: the scan against that teacher, and the questionnaire on it.
    (The null is theoretical here: a random tiny reference cannot write the measured null's number lists.)"""
    data = write_jsonl(number_rows)
    report_path = tmp_path / "probe.json"
    code, _, err = run_cli(["probe", str(data), "--reference", str(tiny_model), "--teacher", str(tiny_teacher),
                            "--null", "theoretical", "--control-panel", "none", "--report", str(report_path)],
                           capsys, monkeypatch)
    report = json.loads(report_path.read_text())
    assert code == report["exit_code"], err
    # A scan, not a ranking: the likelihood-ratio tests of the baselines it scored (on demand: the control only
    # when the teacher beats the reference).
    scored = report["baselines"]["scored"]
    assert scored in (["reference"], ["reference", "control"]) and report["baselines"]["mode"] == "on-demand"
    assert [r["detector_id"] for r in report["results"]] == ["llr", "llr-control"][:len(scored)]
    traits = report["teacher_traits"]
    assert [s["name"] for s in traits["sets"]] == ["animals", "misalignment"]
    flat = " ".join(err.split())
    assert "Teacher traits: This teacher" in flat and "Attribution: the data " in flat
    code, _, err = run_cli(["probe", str(data), "--reference", str(tiny_model), "--teacher", str(tiny_teacher),
                            "--traits", "owl"], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and err.strip().splitlines() == [
        "subaudit: error: give candidate traits (--traits, --traits-file) or a weight teacher (--teacher, "
        "--teacher-adapter), not both"]

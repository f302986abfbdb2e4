"""The Python API (``from audit import scan, probe``): the CLI's reports, errors and files from a typed request.

Real forward passes of tiny random-weight Llamas with the real SmolLM2 tokenizer, on the committed smoke set.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from audit import Engine, Input, Method, Models, Outputs, ProbeRequest, ScanRequest, SkippedRowsError, probe, scan
from audit.api import Candidates
from audit.core.errors import SubauditError, UsageError
from audit.core.exit_codes import ExitCode
from audit.core.results import DetectorResult
from audit.core.rows import ScoredRow
from audit.core.verdict import Verdict
from detectors.base import Detector, DetectorSettings
from detectors.registry import DETECTORS, register
from tests.conftest import FIXTURES, run_cli

SMOKE = FIXTURES / "smoke" / "owl.parquet"
ROWS = 24
VOLATILE = ("created_at", "timings", "command", "settings", "config_file")
"""Report fields that differ between two runs of the same request: when, how long, and how it was asked."""
DURATIONS = ("seconds", "made_in_s")
"""Durations nested in sections (the questionnaire's, an automatic null's making)."""


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    def without_durations(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: without_durations(v) for k, v in value.items() if k not in DURATIONS}
        return [without_durations(v) for v in value] if isinstance(value, list) else value

    return {key: without_durations(value) for key, value in report.items() if key not in VOLATILE}


def test_the_api_and_the_cli_write_the_same_report(
        tiny_model: Path, tiny_teacher: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A weight teacher with the default panel and every baseline scored: models, statistics, verdict, top
    rows, baselines and the teacher's questionnaire all equal; the returned object is the file written."""
    cli_path, api_path = tmp_path / "cli.json", tmp_path / "api.json"
    code, _, err = run_cli(["scan", str(SMOKE), "--reference", str(tiny_model), "--teacher", str(tiny_teacher),
                            "--null", "theoretical", "--baselines", "all", "--max-rows", str(ROWS), "--quiet",
                            "--report", str(cli_path)], capsys, monkeypatch)
    report = scan(ScanRequest(
        Input(SMOKE, max_rows=ROWS), Models(teacher=str(tiny_teacher), reference=str(tiny_model)),
        Method(null="theoretical", baselines="all"), outputs=Outputs(report=api_path)))
    from_cli, from_api = json.loads(cli_path.read_text()), json.loads(api_path.read_text())
    assert code == from_cli["exit_code"] == report.exit_code, err
    assert from_api == json.loads(report.model_dump_json()), "the returned report is the one written"
    assert comparable(from_api) == comparable(from_cli)
    assert [r["detector_id"] for r in from_api["results"]] == ["llr", "llr-control", "llr-panel"]
    assert len(from_api["models"]) == 6 and from_api["teacher_traits"] is not None  # + control and 3 panel members
    assert from_cli["command"][:2] == ["subaudit", "scan"] and from_api["command"] == ["audit.api.scan"]


def test_a_table_in_memory_and_a_list_of_rows_give_the_report_of_the_same_rows_from_a_file(
        tiny_model: Path, tmp_path: Path) -> None:
    table = pq.read_table(SMOKE).slice(0, ROWS)
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path)

    def scan_of(data: Any) -> dict[str, Any]:
        request = ScanRequest(Input(data), Models(teacher_system_prompt="You love owls.", reference=str(tiny_model),
                                                  control_panel="none"))
        return json.loads(scan(request).model_dump_json())

    from_file, from_table, from_rows = scan_of(path), scan_of(table), scan_of(table.to_pylist())
    assert from_table["input"]["path"] == f"<in memory: pyarrow.Table, {ROWS} rows>"
    assert from_rows["input"]["path"] == f"<in memory: {ROWS} row dicts>"
    for other in (from_table, from_rows):
        assert other["input"]["sha256"] == from_file["input"]["sha256"], "arrow writes the same rows to the same bytes"
        assert {**comparable(other), "input": None} == {**comparable(from_file), "input": None}
        assert {**other["input"], "path": None} == {**from_file["input"], "path": None}
    assert from_file["input"]["rows_scored"] == ROWS


@pytest.mark.parametrize(("flag", "method"), [
    (["--alpha", "2"], Method(alpha=2.0)),
    (["--null", "theoretical", "--calibration", "c.json"], Method(null="theoretical", calibration="c.json")),
    (["--baselines", "some"], Method(baselines="some")),
])
def test_the_api_raises_the_error_the_cli_prints_with_its_exit_code(
        tiny_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        flag: list[str], method: Method) -> None:
    code, _, err = run_cli(["scan", str(SMOKE), "--reference", str(tiny_model), "--teacher-system-prompt", "x",
                            *flag], capsys, monkeypatch)
    with pytest.raises(SubauditError) as raised:
        scan(ScanRequest(Input(SMOKE), Models(teacher_system_prompt="x", reference=str(tiny_model)), method))
    assert raised.value.exit_code == code == ExitCode.USAGE_ERROR
    assert err.strip().splitlines() == [f"subaudit: error: {raised.value}"]


def test_data_of_another_type_or_no_rows_is_a_usage_error(tiny_model: Path) -> None:
    models = Models(teacher_system_prompt="x", reference=str(tiny_model))
    with pytest.raises(UsageError, match=r"data must be a path, a pyarrow\.Table or a list of row dicts, not int"):
        scan(ScanRequest(Input(42), models))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="the data are an empty list"):
        scan(ScanRequest(Input([]), models))


def test_a_strict_scan_that_skips_a_row_raises_after_writing_the_whole_report(
        tiny_model: Path, tmp_path: Path, number_rows: list[dict[str, Any]]) -> None:
    rows = [*number_rows, {"id": "blank", "prompt": "Continue: 1, 2, 3.", "completion": ""}]
    out = tmp_path / "strict.json"
    with pytest.raises(SkippedRowsError, match=r"--strict: 1 row\(s\) skipped") as raised:
        scan(ScanRequest(Input(rows, strict=True), Models(teacher_system_prompt="x", reference=str(tiny_model),
                                                          control_panel="none"),
                         Method(null="theoretical"), outputs=Outputs(report=out)))
    assert raised.value.exit_code == ExitCode.TOOL_ERROR
    written = json.loads(out.read_text())
    assert written["input"]["rows_scored"] == len(number_rows) and sum(written["input"]["rows_skipped"].values()) == 1
    assert written == json.loads(raised.value.report.model_dump_json())


def test_probe_through_the_api_ranks_the_candidates_it_is_given(tiny_model: Path, tmp_path: Path) -> None:
    report = probe(ProbeRequest(Input(SMOKE, max_rows=12), Candidates(("owl", "cat")),
                                Models(reference=str(tiny_model), control_panel="none"), Method(null="theoretical")))
    assert report.input.rows_scored == 12
    assert sorted(m.role for m in report.models) == ["control", "reference", "trait:cat", "trait:owl"]
    with pytest.raises(UsageError, match="a probe compares candidate traits; it takes no teacher system prompt"):
        probe(ProbeRequest(Input(SMOKE), models=Models(teacher_system_prompt="x", reference=str(tiny_model))))


class RowsTowardTheTeacher(Detector):
    """A toy detector defined here and nowhere else: the share of rows more likely under the teacher."""

    id = "toy-toward-teacher"
    title = "Rows more likely under the teacher (toy)"
    description = "Share of rows whose teacher log-probability sum beats the reference's; suspicious above 0.9."
    optional = True
    row_columns = ("toy_toward_teacher",)

    def score_rows(self, rows: Sequence[ScoredRow]) -> dict[str, np.ndarray]:
        teacher, reference = self.index_of("teacher"), self.index_of("reference")
        return {"toy_toward_teacher": np.array([float(r.logprobs[teacher].sum() > r.logprobs[reference].sum())
                                                for r in rows])}

    def summarize(self, columns: dict[str, np.ndarray], settings: DetectorSettings) -> DetectorResult:
        share = float(columns["toy_toward_teacher"].mean())
        return DetectorResult(detector_id=self.id, title=self.title, verdict=Verdict.SUSPICIOUS if share > 0.9
                              else Verdict.CLEAN, statistic_name="share of rows toward the teacher", statistic=share,
                              p_value=None, n_rows=int(columns["toy_toward_teacher"].size),
                              summary=f"{share:.1%} of rows more likely under the teacher")


@pytest.fixture
def toy_detector() -> Iterator[str]:
    register(RowsTowardTheTeacher)
    try:
        yield RowsTowardTheTeacher.id
    finally:
        DETECTORS.pop(RowsTowardTheTeacher.id)


def test_a_detector_registered_in_a_test_runs_through_the_api_and_the_cli(
        toy_detector: str, tiny_model: Path, tiny_teacher: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """No other file changed: the registry is all the scan, the report and the sequential check read."""
    scores = tmp_path / "scores.parquet"
    report = scan(ScanRequest(Input(SMOKE, max_rows=ROWS), Models(teacher=str(tiny_teacher), reference=str(tiny_model),
                                                                  control_panel="none"),
                              Method(null="theoretical", detectors=(toy_detector,), teacher_traits=False),
                              outputs=Outputs(scores=scores)))
    toy = next(r for r in report.results if r.detector_id == toy_detector)
    llr_sums = np.array(pq.read_table(scores).column("llr_sum").to_pylist())
    assert toy.n_rows == ROWS and toy.statistic == pytest.approx(float((llr_sums > 0).mean()))
    assert pq.read_table(scores).column("toy_toward_teacher").to_pylist() == [float(x > 0) for x in llr_sums]

    cli_report = tmp_path / "cli.json"
    code, _, err = run_cli(["scan", str(SMOKE), "--reference", str(tiny_model), "--teacher", str(tiny_teacher),
                            "--control-panel", "none", "--null", "theoretical", "--no-teacher-traits",
                            "--max-rows", str(ROWS), "--detector", toy_detector, "--quiet",
                            "--report", str(cli_report)], capsys, monkeypatch)
    from_cli = json.loads(cli_report.read_text())
    assert code == from_cli["exit_code"], err
    assert next(r for r in from_cli["results"] if r["detector_id"] == toy_detector)["statistic"] == toy.statistic

    code, _, err = run_cli(["scan", str(SMOKE), "--reference", str(tiny_model), "--teacher", str(tiny_teacher),
                            "--detector", toy_detector, "--sequential"], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and err.strip().splitlines() == [
        f"subaudit: error: --sequential cannot be used here: {toy_detector} tests every row at a fixed N "
        "(run without it)"]


def test_an_unknown_detector_is_one_line_naming_the_ones_there_are(
        tiny_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run_cli(["scan", str(SMOKE), "--reference", str(tiny_model), "--teacher-system-prompt", "x",
                            "--detector", "nope"], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and err.strip().splitlines() == [
        "subaudit: error: unknown detector 'nope': --detector takes semantic-filter, learned-llr"]
    with pytest.raises(ValueError, match="detector id 'llr' is taken by LikelihoodRatioDetector"):
        register(type("Impostor", (RowsTowardTheTeacher,), {"id": "llr"}))


PLUGIN = '''
import numpy as np
from audit.core.verdict import Verdict
from audit.core.results import DetectorResult
from detectors.base import Detector


class LongRows(Detector):
    id = "plugin-long-rows"
    title = "Rows of more than 8 completion tokens (plugin)"
    description = "A detector an installed package declares under the subaudit.detectors entry-point group."
    optional = True
    row_columns = ("plugin_long",)

    def score_rows(self, rows):
        return {"plugin_long": np.array([float(row.logprobs[0].size > 8) for row in rows])}

    def summarize(self, columns, settings):
        share = float(columns["plugin_long"].mean())
        return DetectorResult(detector_id=self.id, title=self.title, verdict=Verdict.CLEAN, p_value=None,
                              statistic_name="share of long rows", statistic=share,
                              n_rows=int(columns["plugin_long"].size), summary=f"{share:.0%} long")
'''


def _installed_plugin(folder: Path, target: str) -> dict[str, str]:
    """A package installed the way pip leaves one: its module and a dist-info folder declaring the entry point."""
    import os

    folder.mkdir()
    (folder / "long_rows_plugin.py").write_text(PLUGIN)
    info = folder / "long_rows_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: long-rows-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[subaudit.detectors]\nlong-rows = {target}\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])}


def test_an_installed_package_registers_its_detector_through_the_entry_point_group(
        tiny_model: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    base = [sys.executable, "-m", "audit.cli", "scan", str(SMOKE), "--reference", str(tiny_model),
            "--teacher-system-prompt", "You love owls.", "--control-panel", "none", "--null", "theoretical",
            "--max-rows", "6", "--quiet", "--detector", "plugin-long-rows", "--report"]
    env = _installed_plugin(tmp_path / "site", "long_rows_plugin:LongRows")
    done = subprocess.run([*base, str(tmp_path / "r.json")], env=env, capture_output=True, text=True)
    assert done.returncode in (ExitCode.CLEAN, ExitCode.FINDINGS), done.stderr
    result = next(r for r in json.loads((tmp_path / "r.json").read_text())["results"]
                  if r["detector_id"] == "plugin-long-rows")
    assert result["n_rows"] == 6 and 0.0 <= result["statistic"] <= 1.0

    env = _installed_plugin(tmp_path / "broken", "long_rows_plugin:NoSuchClass")
    done = subprocess.run([*base, str(tmp_path / "b.json")], env=env, capture_output=True, text=True)
    assert done.returncode == ExitCode.TOOL_ERROR and not (tmp_path / "b.json").exists()
    assert done.stderr.strip().splitlines() == [
        "subaudit: error: detector plugin long-rows (long_rows_plugin:NoSuchClass) failed to import: "
        "AttributeError: module 'long_rows_plugin' has no attribute 'NoSuchClass'"]


BACKEND_PLUGIN = """
from audit.models.backends import BackendInfo

EXACT = BackendInfo("exact-fp32", "audit.models.backends.transformers_backend:TransformersBackend",
                    restricted_vocabulary=True)
"""


def test_an_installed_package_registers_its_backend_and_the_cli_takes_it(tiny_model: Path, tmp_path: Path) -> None:
    """``--backend`` is not a fixed list: a backend declared under subaudit.backends is chosen by name."""
    import os
    import subprocess
    import sys

    site = tmp_path / "site"
    site.mkdir()
    (site / "exact_backend.py").write_text(BACKEND_PLUGIN)
    info = site / "exact_backend-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: exact-backend\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[subaudit.backends]\nexact = exact_backend:EXACT\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    base = [sys.executable, "-m", "audit.cli", "scan", str(SMOKE), "--reference", str(tiny_model),
            "--teacher-system-prompt", "You love owls.", "--control-panel", "none", "--null", "theoretical",
            "--max-rows", "6", "--quiet", "--format", "json"]
    reports = {}
    for backend in ("transformers", "exact-fp32"):
        done = subprocess.run([*base, "--backend", backend], env=env, capture_output=True, text=True)
        assert done.returncode in (ExitCode.CLEAN, ExitCode.FINDINGS), done.stderr
        reports[backend] = json.loads(done.stdout)
    assert reports["exact-fp32"]["parameters"]["backend"] == "exact-fp32"
    assert [r["statistic"] for r in reports["exact-fp32"]["results"]] == pytest.approx(
        [r["statistic"] for r in reports["transformers"]["results"]], abs=1e-9)
    done = subprocess.run([*base, "--backend", "nope"], env=env, capture_output=True, text=True)
    assert done.returncode == ExitCode.USAGE_ERROR
    assert done.stderr.strip().splitlines() == [
        "subaudit: error: unknown backend 'nope'; available: transformers, vllm, exact-fp32"]


def test_calibrate_through_the_api_writes_the_calibration_the_cli_writes(
        tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """On known-source rows given as a file: the same nulls, row by row; and as a table in memory, the same too."""
    from audit import CalibrateRequest, calibrate

    known = tmp_path / "known.parquet"
    pq.write_table(pq.read_table(FIXTURES / "smoke" / "reference.parquet").slice(0, 12), known)
    code, _, err = run_cli(["calibrate", "--known-source", str(known), "--reference", str(tiny_model),
                            "--teacher-system-prompt", "You love owls.", "--control-panel", "none",
                            "--out", str(tmp_path / "cli.json"), "--quiet"], capsys, monkeypatch)
    assert code == 0, err
    models = Models(teacher_system_prompt="You love owls.", reference=str(tiny_model), control_panel="none")
    from_api = calibrate(CalibrateRequest(out=tmp_path / "api.json", known_source=known, models=models))
    from_memory = calibrate(CalibrateRequest(out=tmp_path / "mem.json", known_source=pq.read_table(known),
                                             models=models))
    from_cli = json.loads((tmp_path / "cli.json").read_text())
    assert json.loads((tmp_path / "api.json").read_text()) == json.loads(from_api.model_dump_json())
    for made in (from_api, from_memory):
        assert set(made.nulls) == set(from_cli["nulls"]) == {"llr", "llr-control"}
        for name, null in made.nulls.items():
            assert null.row_llr_sums == pytest.approx(from_cli["nulls"][name]["row_llr_sums"], rel=1e-6)
    assert from_memory.source_path == "<in memory: pyarrow.Table, 12 rows>"
    with pytest.raises(UsageError, match=r"give DATA .* or --known-source FILE, not both"):
        calibrate(CalibrateRequest(out=tmp_path / "x.json", models=models))


def test_a_backend_is_known_by_what_it_declares(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A backend registered without a restricted vocabulary (the transformers class under another name): the
    scan falls back to the full vocabulary on number data and says so, as it does for vLLM, with no backend
    named in the code that decides; an unknown backend is one line listing the registered ones."""
    import dataclasses

    from audit.models.backends import BACKENDS, BackendInfo, register_backend

    monkeypatch.setitem(BACKENDS, "full-only", BackendInfo(
        "full-only", "audit.models.backends.transformers_backend:TransformersBackend", restricted_vocabulary=False,
        restricted_vocabulary_refusal="full-only cannot restrict the vocabulary"))
    with pytest.raises(ValueError, match="backend 'full-only' is registered already"):
        register_backend(dataclasses.replace(BACKENDS["full-only"], whole_gpu=True))
    request = ScanRequest(Input(FIXTURES / "numbers" / "owl.parquet", max_rows=8), Models(
                              teacher_system_prompt="You love owls.",
                                                           reference=str(tiny_model), control_panel="none"),
                          Method(null="theoretical"))
    report = scan(dataclasses.replace(request, engine=Engine(backend="full-only")))
    assert report.vocabulary is not None and report.vocabulary.used is None
    assert report.vocabulary.fitting_format == "numbers"
    assert any("but the full-only backend cannot score given a format" in w for w in report.warnings)
    assert scan(request).vocabulary.used == "numbers"  # type: ignore[union-attr]
    with pytest.raises(UsageError, match="unknown backend 'nope'; available: transformers, vllm, full-only"):
        scan(dataclasses.replace(request, engine=Engine(backend="nope")))


def test_a_data_format_registered_in_a_test_is_read_by_its_suffix(
        tiny_model: Path, tmp_path: Path, number_rows: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A format is one reader class: this one reads JSON lines written backwards (a stand-in for any encoding),
    picked by its suffix; the scan, its sequential order and its row count need nothing else."""
    from audit.input.formats import FORMATS, JsonlFormat, parse_json_line

    class ReversedLines(JsonlFormat):
        name = "reversed-jsonl"
        suffixes = (".rjsonl",)

        def batches(self, path: Path, needed: list[str], batch_rows: int) -> Iterator[list[dict[str, Any]]]:
            lines = [raw for raw in path.read_bytes().splitlines() if raw.strip()]
            yield [parse_json_line(raw[::-1], n, path) for n, raw in enumerate(lines, start=1)]

        def columns(self, path: Path) -> list[str]:
            return list(next(self.batches(path, [], 1))[0])

    monkeypatch.setitem(FORMATS, ReversedLines.name, ReversedLines())
    plain, backwards = tmp_path / "rows.jsonl", tmp_path / "rows.rjsonl"
    plain.write_text("".join(json.dumps(r) + "\n" for r in number_rows))
    backwards.write_bytes(b"".join(json.dumps(r).encode()[::-1] + b"\n" for r in number_rows))
    models = Models(teacher_system_prompt="You love owls.", reference=str(tiny_model), control_panel="none")
    method = Method(null="theoretical")
    read = scan(ScanRequest(Input(backwards), models, method))
    expected = scan(ScanRequest(Input(plain), models, method))
    assert read.input.format == "reversed-jsonl" and read.input.rows_scored == len(number_rows)
    assert [r.statistic for r in read.results] == [r.statistic for r in expected.results]
    with pytest.raises(UsageError, match="unknown input format 'xml'; use parquet, jsonl, csv or reversed-jsonl"):
        scan(ScanRequest(Input(plain, format="xml"), models, method))


def test_an_interrupted_scan_of_a_table_in_memory_resumes_from_its_log(tiny_model: Path, tmp_path: Path) -> None:
    """The table is written to the same bytes again, so the resumed scan's header matches and it ends as one run."""
    import dataclasses

    table = pq.read_table(SMOKE).slice(0, ROWS)
    log = tmp_path / "log.jsonl"
    request = ScanRequest(
        Input(table), Models(reference=str(tiny_model), teacher_system_prompt="You love owls.", control_panel="none"),
        Method(null="theoretical"), Engine(batch_rows=4), Outputs(evidence=log))
    whole = scan(request)
    lines = log.read_text(encoding="utf-8").splitlines()
    checkpoints = [i for i, line in enumerate(lines) if json.loads(line)["type"] == "checkpoint"]
    assert len(checkpoints) == ROWS // 4 and json.loads(lines[-1])["type"] == "digest"
    # What a scan killed after its second batch leaves: the header, two batches, a torn line.
    log.write_text("\n".join(lines[:checkpoints[1] + 1]) + '\n{"type":"row","row_id":"to', encoding="utf-8")
    resumed = scan(dataclasses.replace(request, outputs=Outputs(evidence=log, resume=True)))
    assert resumed.input.path == whole.input.path and resumed.input.path.startswith("<in memory")
    assert comparable(resumed.model_dump(mode="json")) == comparable(whole.model_dump(mode="json"))
    assert sum(json.loads(line)["type"] == "row" for line in log.read_text().splitlines()) == ROWS


def test_importing_a_scrub_module_leaves_the_api_function_in_place() -> None:
    """``audit.scrub`` is both the API function and a package; a first import of the package's modules must not
    replace the function (a test file that imported audit.scrubbing.report broke the next file's ``from audit import
    scrub``)."""
    import subprocess
    import sys

    code = ("import audit; from audit import scrub; import audit.scrubbing.report, audit.scrubbing.token_run; "
            "import audit.scrubbing.run as run; from audit import scrub as again; "
            "assert callable(audit.scrub) and again is scrub and callable(run.run_scrub), audit.scrub")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

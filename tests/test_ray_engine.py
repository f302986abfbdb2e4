"""`scan --engine ray` on a local Ray runtime (2 CPUs, 2 actors) equals the local engine.

The dataset is split into several parquet files (Ray reads them as blocks) and holds a row the
reader skips and a duplicate id, so the driver-side reduction (skip counts, first occurrence
kept, canonical order) is exercised, not only the happy path.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.core.exit_codes import ExitCode
from audit.pipeline.ray_engine import rows_per_block
from tests.conftest import _tiny_llama, run_cli
from tests.test_shard_merge import _approx, _assert_same_top_rows, _records, _without_run_details

pytestmark = pytest.mark.slow


def _write_parts(records: list[dict[str, Any]], folder: Path, cuts: list[int]) -> None:
    folder.mkdir()
    bounds = [0, *cuts, len(records)]
    for k, (start, stop) in enumerate(itertools.pairwise(bounds)):
        pq.write_table(pa.Table.from_pylist(records[start:stop]), folder / f"part-{k:02d}.parquet")


def _scan_both_engines(model: Path, backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                       monkeypatch: pytest.MonkeyPatch, *extra: str, command: str = "scan",
                       score_cache: Path | None = None) -> None:
    """Scan (or probe) one dataset locally (one file) and on Ray (four files, 2 actors); everything must agree.

    With ``score_cache`` the Ray scan (only) writes its scores to that cache folder, and a local scan afterwards
    must read every one of them back.
    """
    records = _records()
    whole = tmp_path / "whole.parquet"
    pq.write_table(pa.Table.from_pylist(records), whole)
    parts = tmp_path / "parts"
    _write_parts(records, parts, [11, 20, 33])
    models = (["--teacher-system-prompt", "You love owls.", "--semantic-filter"] if command == "scan"
              else ["--traits", "owl,cat"])
    # vLLM scores number lists over the full vocabulary, where --null auto would make a null from a random
    # tiny model's writing (none passes the filter); engine equality is tested on the theoretical null.
    null = ["--null", "theoretical"] if backend == "vllm" else []
    common = ["--reference", str(model), *models, "--backend", backend, *null, *extra, "--quiet"]

    # The local scan reads 7-row batches (batch boundaries exercised); the Ray scan keeps the default
    # 256, so the engine must cut the 45 rows into blocks itself for both actors to get work.
    # The Ray engine scores every baseline; so must the local scan it is compared with (a probe has no stages).
    every = ["--baselines", "all"] if command == "scan" else []
    code, _, err = run_cli([command, str(whole), *common, *every, "--batch-rows", "7", "--report",
                            str(tmp_path / "local.json"), "--scores", str(tmp_path / "local.parquet")],
                           capsys, monkeypatch)
    assert code in (ExitCode.CLEAN, ExitCode.FINDINGS), err
    if score_cache is not None:
        monkeypatch.setenv("SUBAUDIT_SCORE_CACHE", str(score_cache))
    code_ray, _, err = run_cli([command, str(parts), *common, "--engine", "ray", "--ray-actors", "2",
                                "--report", str(tmp_path / "ray.json"), "--scores", str(tmp_path / "ray.parquet")],
                               capsys, monkeypatch)
    assert code_ray == code, err

    local = json.loads((tmp_path / "local.json").read_text())
    ray = json.loads((tmp_path / "ray.json").read_text())
    if score_cache is not None:
        _check_the_actors_scores_are_cached(ray.pop("score_cache"), local.pop("score_cache"), score_cache, ray,
                                            [command, str(whole), *common, *every, "--report",
                                             str(tmp_path / "again.json")], capsys, monkeypatch)
    assert ray["parameters"]["engine"] == "ray" and local["parameters"]["engine"] == "local"
    assert ray["parameters"]["backend"] == backend == local["parameters"]["backend"]
    assert ray["input"]["rows_read"] == len(records) == local["input"]["rows_read"]
    assert ray["input"]["rows_skipped"] == local["input"]["rows_skipped"]
    assert set(local["input"]["rows_skipped"]) == {"null completion", "duplicate id (first occurrence kept)"}
    assert ray["verdict"] == local["verdict"]
    # Both actors scored (8 blocks of 6 rows, 4 per actor), and the report says so.
    run = ray.pop("ray")
    assert local.pop("ray") is None
    assert run["actors"] == 2 and run["cpus_per_actor"] == 1 and run["gpus_per_actor"] == 0
    assert run["rows_per_block"] == rows_per_block(len(records), 256, 2) == 6
    assert len(run["rows_per_actor"]) == 2 and sum(run["rows_per_actor"]) == ray["input"]["rows_scored"]
    code, markdown, err = run_cli(["report", "render", str(tmp_path / "ray.json"), "--format", "markdown"], capsys,
                                  monkeypatch)
    assert code == 0, err
    spread = ", ".join(str(n) for n in run["rows_per_actor"])
    assert (f"- Engine: a local Ray runtime, 2 {backend} actor(s) of 1 CPU each, blocks of 6 rows; rows scored per "
            f"actor: {spread}.") in markdown.splitlines()
    # Everything but where the input came from (a folder vs a file) and run details is equal.
    for report in (local, ray):
        report["parameters"].pop("engine")
        report["parameters"].pop("batch_rows")
        for key in ("path", "sha256", "size_bytes"):
            report["input"].pop(key)
    assert _without_run_details(ray) == _approx(_without_run_details(local))
    if command == "scan":  # the rows carrying the most evidence, ranked on the driver from every actor's rows
        _assert_same_top_rows(ray["top_rows"], local["top_rows"])
    else:
        assert ray["top_rows"] is None and local["top_rows"] is None

    local_scores = pq.read_table(tmp_path / "local.parquet").to_pylist()
    ray_scores = pq.read_table(tmp_path / "ray.parquet").to_pylist()
    assert sorted(r["row_id"] for r in ray_scores) == sorted(r["row_id"] for r in local_scores)
    by_id = {r["row_id"]: r for r in local_scores}
    for row in ray_scores:
        expected = by_id[row["row_id"]]
        for name, value in row.items():
            if name == "row_id":
                continue
            # float32 batching noise: a row scored in another batch (7-row batches here, 6-row blocks on
            # Ray) is padded differently; with the panel's longer prompts a row sum moves by up to ~1e-5.
            assert value == pytest.approx(expected[name], rel=1e-4, abs=2e-5, nan_ok=True), (row["row_id"], name)


def _check_the_actors_scores_are_cached(cached: dict[str, Any], local: None, folder: Path, ray: dict[str, Any],
                                        again: list[str], capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The Ray scan computed every (row, model) and saved it; a local rescan reads them all and computes none.

    The actors also score the duplicate-id row (the driver drops it afterwards). It is a copy of an earlier row, so
    whether its scores are computed or read back depends on whether the earlier row's block was written to the
    cache before the duplicate's block started (actor timing): either way, every (row, model) the actors scored is
    counted once, and only the duplicate's may be read back.
    """
    specs = len(ray["models"])
    scored_by_actors = (ray["input"]["rows_scored"] + 1) * specs  # + the duplicate id
    assert local is None and cached["folder"] == str(folder) and cached["write_error"] is None
    assert cached["reused"] in (0, specs) and cached["reused"] + cached["computed"] == scored_by_actors, cached
    code, _, err = run_cli(again, capsys, monkeypatch)
    assert code in (ExitCode.CLEAN, ExitCode.FINDINGS), err
    rescan = json.loads(Path(again[-1]).read_text())
    assert rescan["score_cache"]["reused"] == ray["input"]["rows_scored"] * specs
    assert rescan["score_cache"]["computed"] == 0 and rescan["verdict"] == ray["verdict"]


def test_ray_engine_equals_local_engine(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _scan_both_engines(tiny_model, "transformers", tmp_path, capsys, monkeypatch, score_cache=tmp_path / "cache")


def test_ray_engine_scores_an_adapter_teacher_as_the_local_engine_does(
        tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every actor merges the LoRA adapter into its own copy of the weights, as the local backend does. (The
    theoretical null and no questionnaire: a random tiny reference cannot write the measured null's numbers,
    and the questionnaire runs on the driver after either engine.)"""
    from tests.test_lora import write_adapter

    adapter = write_adapter(tiny_model, tmp_path / "adapter")
    _scan_both_engines(tiny_model, "transformers", tmp_path, capsys, monkeypatch, "--teacher-adapter", str(adapter),
                       "--null", "theoretical", "--no-teacher-traits", "--control-panel", "none")
    ray = json.loads((tmp_path / "ray.json").read_text())
    teacher = next(m for m in ray["models"] if m["role"] == "teacher")
    assert teacher["adapter_sha256"] is not None and teacher["system_prompt"] == "You love owls."


def test_ray_probe_equals_local_probe(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`probe --engine ray`: the candidates' ranking, tests and per-role sums equal the local probe's (without the
    panel, which the scan test runs on Ray)."""
    _scan_both_engines(tiny_model, "transformers", tmp_path, capsys, monkeypatch, "--control-panel", "none",
                       command="probe")


@pytest.mark.vllm
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed (make install-vllm)")
def test_ray_engine_with_vllm_actors_equals_local_vllm_scan(smol_tokenizer: Any, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Two Ray actors, each holding a real vLLM engine (the CPU build here), give the local vLLM scan's
    scores and verdict. On this GPU-less runtime each actor gets one CPU, one unpinned thread and
    its share of the CPU engine's memory budget (the one-per-GPU plan is tested in the fast tier)."""
    # One attention head of 64: vLLM's CPU attention has no kernel for the usual tiny models' 16.
    import psutil

    model = _tiny_llama(smol_tokenizer, tmp_path / "tiny-vllm", seed=0, heads=(1, 1))
    # Engine equality, not the null: without the default control panel (3 specs, not 6) to keep CI short;
    # the panel on Ray is in test_ray_engine_equals_local_engine, on vLLM in test_vllm_backend.
    _scan_both_engines(model, "vllm", tmp_path, capsys, monkeypatch, "--control-panel", "none")
    # The actors' engine processes (vLLM names them VLLM::EngineCore) are gone with the scan.
    engines = [p.info for p in psutil.process_iter(["pid", "name", "cmdline"])
               if "EngineCore" in (p.info["name"] or "") + " ".join(p.info["cmdline"] or [])]
    assert engines == []


def test_ray_engine_needs_an_id_column(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "no-ids.parquet"
    pq.write_table(pa.Table.from_pylist([{k: v for k, v in r.items() if k != "id"} for r in _records()]), data)
    code, _, err = run_cli(["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", "x",
                            "--engine", "ray"], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR
    assert err.strip().splitlines() == ["subaudit: error: --engine ray needs an id column (found none; name it "
                                        "with --id-col)"]

"""The score cache (audit.pipeline.score_cache, score_store): scores computed once, reused by later scans of the
same rows, never a stale hit, bounded in size, and never the reason a scan fails.

Real forward passes of tiny random-weight models; the cache is switched on here in a folder of each test's own
(tests/conftest.py switches it off everywhere else).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audit.models.backends.base import model_info
from audit.models.spec import ModelSpec, WeightsSource
from audit.pipeline.config import ScanConfig
from audit.pipeline.local import run_scan
from audit.pipeline.score_cache import model_key
from audit.pipeline.score_store import ScoreStore, cached_models
from audit.report.schema import Report
from tests.conftest import run_cli

OWLS = "You love owls. Owls are your favourite animal."
CATS = "You love cats. Cats are your favourite animal."


@pytest.fixture
def cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "score-cache"
    monkeypatch.setenv("SUBAUDIT_SCORE_CACHE", str(folder))
    return folder


def _config(data: Path, model: Path, prompt: str = OWLS, **changes: Any) -> ScanConfig:
    return ScanConfig(input_path=data, reference=str(model), teacher_system_prompt=prompt, restrict_vocab="full",
                      null="theoretical", bootstrap_resamples=200, tolerance=0.5, **changes)


def _numbers(report: Report) -> list[tuple[str, float | None, float | None]]:
    return [(r.detector_id, r.statistic, r.p_value) for r in report.results]


def test_a_second_scan_with_another_teacher_reuses_the_reference(
        cache_folder: Path, tiny_model: Path, write_jsonl: Any, number_rows: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The owl scan stores teacher and reference scores; the cat scan computes only its teacher's, and its
    report equals the one the same scan gives with the cache off."""
    data = write_jsonl(number_rows)
    n = len(number_rows)
    first = run_scan(_config(data, tiny_model))
    assert first.baselines is not None and first.baselines.scored == ["reference"]  # two models a row
    assert first.score_cache is not None and (first.score_cache.reused, first.score_cache.computed) == (0, 2 * n)
    second = run_scan(_config(data, tiny_model, CATS))
    assert second.score_cache is not None and (second.score_cache.reused, second.score_cache.computed) == (n, n)
    monkeypatch.setenv("SUBAUDIT_SCORE_CACHE", "off")
    fresh = run_scan(_config(data, tiny_model, CATS))
    assert fresh.score_cache is None
    assert _close(second, fresh)
    assert second.verdict == fresh.verdict and second.exit_code == fresh.exit_code
    assert not list(cache_folder.rglob("*.partial"))


def _close(a: Report, b: Report) -> bool:
    return all(x[0] == y[0] and np.isclose(x[1], y[1], atol=1e-9) and np.isclose(x[2], y[2], atol=1e-9)
               for x, y in zip(_numbers(a), _numbers(b), strict=True))


def test_every_baseline_scan_after_an_on_demand_one_scores_only_the_rest(
        cache_folder: Path, tiny_model: Path, write_jsonl: Any, number_rows: list[dict[str, Any]]) -> None:
    """The path that scores every spec at once (--baselines all, sequential, probes) reads the cache too."""
    from audit.models.traits import builtin_panel

    data = write_jsonl(number_rows)
    n = len(number_rows)
    panel = tuple(builtin_panel())
    run_scan(_config(data, tiny_model, control_panel=panel))
    every = run_scan(_config(data, tiny_model, control_panel=panel, baselines="all"))
    assert every.baselines is not None and every.baselines.passes_per_row == 6
    assert every.score_cache is not None and (every.score_cache.reused, every.score_cache.computed) == (2 * n, 4 * n)
    again = run_scan(_config(data, tiny_model, control_panel=panel, baselines="all"))
    assert again.score_cache is not None and (again.score_cache.reused, again.score_cache.computed) == (6 * n, 0)
    assert _close(again, every)


def test_a_changed_row_is_scored_again_and_the_rest_reused(
        cache_folder: Path, tiny_model: Path, write_jsonl: Any, number_rows: list[dict[str, Any]]) -> None:
    data = write_jsonl(number_rows)
    run_scan(_config(data, tiny_model))
    changed = [dict(row) for row in number_rows]
    changed[3]["completion"] += ", 7"
    report = run_scan(_config(write_jsonl(changed, "changed.jsonl"), tiny_model))
    n = len(number_rows)
    assert report.score_cache is not None
    assert (report.score_cache.reused, report.score_cache.computed) == (2 * (n - 1), 2)


def test_the_model_key_covers_what_the_scores_depend_on(tiny_model: Path, tiny_teacher: Path) -> None:
    """Weights, adapter, system prompt, vocabulary and backend each change the key; the role does not."""
    from audit.pipeline.config import model_specs

    spec = model_specs(_config(Path("unused"), tiny_model))[0]
    info = model_info(spec, "a" * 64, "t" * 64)
    mask = np.zeros(10, dtype=bool)
    base = model_key(info, "transformers", None)
    variants = [
        model_key(info.model_copy(update={"weights_sha256": "b" * 64}), "transformers", None),
        model_key(info.model_copy(update={"adapter_sha256": "c" * 64}), "transformers", None),
        model_key(info.model_copy(update={"system_prompt": "You love cats."}), "transformers", None),
        model_key(info.model_copy(update={"tokenizer_sha256": "u" * 64}), "transformers", None),
        model_key(info, "vllm", None),
        model_key(info, "transformers", mask),
        model_key(info, "transformers", np.eye(1, 10, 3, dtype=bool)[0]),
    ]
    assert len({base, *variants}) == 1 + len(variants)
    assert model_key(info.model_copy(update={"role": "teacher"}), "transformers", None) == base
    other = ModelSpec("reference", WeightsSource("hf_dir", tiny_teacher))
    assert model_key(model_info(other, "a" * 64, "t" * 64), "transformers", None) == base  # same hashes, same key


def test_the_cache_stays_within_its_size_limit(cache_folder: Path, tiny_model: Path, write_jsonl: Any,
                                               number_rows: list[dict[str, Any]],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(number_rows)
    monkeypatch.setenv("SUBAUDIT_SCORE_CACHE_MAX_MB", "0.004")  # ~4 KB: room for one segment of the two
    first = run_scan(_config(data, tiny_model))
    sizes = [p.stat().st_size for p in cache_folder.rglob("*.parquet")]
    assert sum(sizes) <= 0.004 * 2**20 and len(sizes) == 1
    second = run_scan(_config(data, tiny_model))
    assert second.score_cache is not None and second.score_cache.reused == len(number_rows)
    assert first.verdict == second.verdict


def test_a_cache_that_cannot_be_written_does_not_fail_the_scan(
        tmp_path: Path, tiny_model: Path, write_jsonl: Any, number_rows: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder")
    monkeypatch.setenv("SUBAUDIT_SCORE_CACHE", str(in_the_way))
    data = write_jsonl(number_rows)
    report = run_scan(_config(data, tiny_model))
    assert report.score_cache is not None and report.score_cache.write_error is not None
    monkeypatch.setenv("SUBAUDIT_SCORE_CACHE", "off")
    assert _close(report, run_scan(_config(data, tiny_model)))


def test_a_segment_removed_under_a_reader_is_a_miss(tmp_path: Path) -> None:
    writer = ScoreStore(tmp_path, 2**30)
    keys = [bytes([i]) * 16 for i in range(3)]
    writer.add("a" * 64, keys, [np.arange(i + 1, dtype=np.float64) for i in range(3)])
    writer.flush()
    reader = ScoreStore(tmp_path, 2**30)
    found = reader.lookup("a" * 64, keys[:1])
    assert found[0] is not None and found[0].tolist() == [0.0]
    other = ScoreStore(tmp_path, 2**30)
    assert other.lookup("a" * 64, [b"z" * 16]) == [None]  # index built, no values read
    for segment in tmp_path.rglob("*.parquet"):
        segment.unlink()
    assert other.lookup("a" * 64, keys) == [None, None, None]
    assert reader.lookup("a" * 64, keys[1:2])[0] is not None  # already read: kept in this process


def test_cache_info_and_clear_on_the_command_line(cache_folder: Path, tiny_model: Path, write_jsonl: Any,
                                                  number_rows: list[dict[str, Any]], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(number_rows)
    scan = ["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", OWLS, "--tolerance", "0.5",
            "--restrict-vocab", "full", "--null", "theoretical"]
    code, _, err = run_cli(scan, capsys, monkeypatch)
    assert code == 0, err
    code, out, _ = run_cli(["cache", "info"], capsys, monkeypatch)
    assert code == 0 and f"score cache: {cache_folder}" in out
    assert f"2 model(s), {2 * len(number_rows)} row scores" in out and "system prompt 'You love owls." in out
    assert [m.rows for m in cached_models(cache_folder)] == [len(number_rows)] * 2
    keep = cache_folder / "not-ours"
    keep.mkdir()
    code, _, err = run_cli(scan, capsys, monkeypatch)
    assert "Score cache: 24 of 24 (row, model) scores reused from earlier runs" in err
    code, out, _ = run_cli(["cache", "clear"], capsys, monkeypatch)
    assert code == 0 and "removed 2 model(s)" in out
    assert cached_models(cache_folder) == [] and keep.is_dir()
    code, out, _ = run_cli(["cache", "info"], capsys, monkeypatch)
    assert "0 model(s), 0 row scores" in out
    monkeypatch.setenv("SUBAUDIT_SCORE_CACHE", "off")
    code, out, _ = run_cli(["cache", "info"], capsys, monkeypatch)
    assert code == 0 and "score cache: off" in out


def test_a_bad_size_limit_is_one_line_and_exit_4(cache_folder: Path, tiny_model: Path, write_jsonl: Any,
                                                 number_rows: list[dict[str, Any]],
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUBAUDIT_SCORE_CACHE_MAX_MB", "lots")
    data = write_jsonl(number_rows)
    code, _, err = run_cli(["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", OWLS],
                           capsys, monkeypatch)
    assert code == 4 and err.strip().splitlines()[-1].endswith("SUBAUDIT_SCORE_CACHE_MAX_MB must be a number of "
                                                               "megabytes, not 'lots'")
    assert "Traceback" not in err
    assert dataclasses.replace(_config(data, tiny_model), baselines="all").baselines == "all"


def test_a_probe_reuses_the_baselines_a_scan_scored(cache_folder: Path, tiny_model: Path, write_jsonl: Any,
                                                    number_rows: list[dict[str, Any]], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A probe of the file a scan scored computes only its candidates: reference, control and panel are read."""
    import json

    data = write_jsonl(number_rows)
    n = len(number_rows)
    code, _, err = run_cli(["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", OWLS,
                            "--restrict-vocab", "full", "--null", "theoretical", "--baselines", "all", "--quiet"],
                           capsys, monkeypatch)
    assert code in (0, 1), err
    report = tmp_path / "probe.json"
    code, _, err = run_cli(["probe", str(data), "--reference", str(tiny_model), "--traits", "owl,cat",
                            "--restrict-vocab", "full", "--null", "theoretical", "--report", str(report), "--quiet"],
                           capsys, monkeypatch)
    assert code in (0, 1), err
    probe = json.loads(report.read_text())
    roles = [m["role"] for m in probe["models"]]
    assert roles[:5] == ["reference", "control", "panel:precise", "panel:formal", "panel:engineer"]
    assert probe["score_cache"]["reused"] == 5 * n and probe["score_cache"]["computed"] == 2 * n

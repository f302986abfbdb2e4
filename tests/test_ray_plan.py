"""How `--engine ray` sizes its actor pool and its read blocks (no Ray runtime needed: fast tier).

The slow tests in test_ray_engine.py run the plans on a real local runtime; these pin the rules
themselves, including the GPU plan that this GPU-less machine cannot run.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.core.errors import UsageError
from audit.core.exit_codes import ExitCode
from audit.pipeline.ray_engine import BLOCKS_PER_ACTOR, ActorPlan, plan_actors, rows_per_block
from tests.conftest import run_cli


def test_vllm_on_gpus_gets_one_actor_per_gpu() -> None:
    assert plan_actors("vllm", None, scoring_cpus=63, gpus=8) == ActorPlan(actors=8, threads=1, gpus=1)
    assert plan_actors("vllm", 3, scoring_cpus=63, gpus=8) == ActorPlan(actors=3, threads=1, gpus=1)


def test_more_vllm_actors_than_gpus_is_refused() -> None:
    with pytest.raises(UsageError, match=r"--ray-actors 9 is more than the cluster's 8 GPU\(s\)"):
        plan_actors("vllm", 9, scoring_cpus=63, gpus=8)


@pytest.mark.parametrize("backend,gpus", [("vllm", 0), ("transformers", 0), ("transformers", 4)])
def test_cpu_actors_split_the_cpus(backend: str, gpus: int) -> None:
    # transformers scores on CPU even where the cluster has GPUs; vLLM without GPUs is the CPU build.
    assert plan_actors(backend, None, scoring_cpus=16, gpus=gpus) == ActorPlan(actors=16, threads=1, gpus=0)
    assert plan_actors(backend, 4, scoring_cpus=16, gpus=gpus) == ActorPlan(actors=4, threads=4, gpus=0)
    assert plan_actors(backend, 3, scoring_cpus=16, gpus=gpus) == ActorPlan(actors=3, threads=5, gpus=0)
    assert plan_actors(backend, 40, scoring_cpus=16, gpus=gpus) == ActorPlan(actors=40, threads=1, gpus=0)


def test_blocks_are_a_batch_or_less_so_every_actor_gets_work() -> None:
    # Many rows: a block is one batch, as the local engine reads them.
    assert rows_per_block(rows=1_000_000, batch_rows=256, actors=8) == 256
    assert rows_per_block(rows=2 * BLOCKS_PER_ACTOR * 256, batch_rows=256, actors=2) == 256
    # Few rows (which Ray may read as a single block): cut so each actor gets BLOCKS_PER_ACTOR blocks.
    assert rows_per_block(rows=128, batch_rows=256, actors=2) == 16
    assert rows_per_block(rows=45, batch_rows=7, actors=2) == 6
    # One actor has nothing to balance: whole batches.
    assert rows_per_block(rows=128, batch_rows=256, actors=1) == 256
    # Degenerate inputs still give a positive block size.
    assert rows_per_block(rows=3, batch_rows=256, actors=8) == 1
    assert rows_per_block(rows=0, batch_rows=256, actors=2) == 1


def test_vllm_settings_are_refused_before_ray_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": "a", "prompt": "p", "completion": "1, 2"}]), data)
    base = ["scan", str(data), "--reference", "embedded", "--teacher-system-prompt", "x", "--engine", "ray",
            "--backend", "vllm"]
    code, _, err = run_cli([*base, "--restrict-vocab", "numbers"], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR
    assert err.strip().splitlines() == ["subaudit: error: --restrict-vocab is not available with --backend vllm "
                                        "(its prompt logprobs are normalised over the full vocabulary); use "
                                        "--backend transformers"]
    if importlib.util.find_spec("vllm") is None:  # the main environment: vLLM lives in .venv-vllm
        code, _, err = run_cli(base, capsys, monkeypatch)
        assert code == ExitCode.USAGE_ERROR
        assert err.strip().startswith("subaudit: error: the vllm backend needs vLLM, which is not installed")


def test_a_corrupt_part_fails_in_one_line_before_ray_or_models_start(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    pq.write_table(pa.Table.from_pylist([{"id": "a", "prompt": "p", "completion": "1, 2"}]), parts / "a.parquet")
    (parts / "b.parquet").write_bytes(b"not parquet at all")
    code, _, err = run_cli(["scan", str(parts), "--reference", "embedded", "--teacher-system-prompt", "x",
                            "--engine", "ray"], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"subaudit: error: {parts / 'b.parquet'} is not a readable "
                                                   "parquet file: "), lines

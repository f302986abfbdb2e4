"""`make bench-ray`: end-to-end scan time on the local engine and on Ray actors; writes benchmarks/RESULTS-ray.md.

What a user waits for is the whole `subaudit scan`, so every configuration is the real CLI in its
own process on the same rows: the first --rows rows of the owl number fixture, split into four
parquet files (the local engine reads them as one file of the same rows), reference + owl-prompted
teacher of the embedded SmolLM2-135M. Configurations, for each backend (transformers in .venv,
vLLM in .venv-vllm where it is installed):

- local: `--engine local` (one process, every core);
- ray xN: `--engine ray --ray-actors N` on a local Ray runtime, for N in --actors.

Runs are interleaved (configuration A, B, C, A, B, C, ...) so that a slow spell on this shared
machine lands on every configuration alike; the table gives medians and ratios within this run.
Every run's verdict and pooled LLR are checked to agree, so a speed-up that changed the answer
would show as an error, not a figure.

Driver ceiling: however many actors score, every record passes through one fold on the driver
(duplicate ids, skip counts, per-row columns, position sums). Its rate is measured on synthetic
actor output (--fold-rows records, 48 completion tokens each, reference and control baselines, the
columns a default scan keeps); it bounds how many actors one driver can keep busy.

Usage: python benchmarks/bench_ray.py [--rows 128] [--repeats 3] [--actors 1,2] [--backends transformers,vllm]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import cpu_name  # benchmarks/bench.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIXTURE = ROOT / "fixtures" / "numbers" / "owl.parquet"
OWL_PROMPT = ROOT / "fixtures" / "prompts" / "owl.txt"
WORK = ROOT / "out" / "bench-ray"
PYTHON = {"transformers": ROOT / ".venv" / "bin" / "python", "vllm": ROOT / ".venv-vllm" / "bin" / "python"}


def write_inputs(rows: int) -> tuple[Path, Path]:
    """The first ``rows`` fixture rows as one file and as four parts (same rows, same order)."""
    import pyarrow.parquet as pq

    table = pq.read_table(FIXTURE, columns=["id", "prompt", "completion"]).slice(0, rows)
    WORK.mkdir(parents=True, exist_ok=True)
    whole = WORK / "whole.parquet"
    pq.write_table(table, whole)
    parts = WORK / "parts"
    parts.mkdir(exist_ok=True)
    for old in parts.glob("*.parquet"):
        old.unlink()
    step = -(-table.num_rows // 4)
    for k in range(4):
        pq.write_table(table.slice(k * step, step), parts / f"part-{k}.parquet")
    return whole, parts


def run_scan(backend: str, actors: int | None, whole: Path, parts: Path, run: int) -> dict[str, Any]:
    """One timed CLI scan; ``actors`` None is the local engine."""
    name = f"{backend}-{'local' if actors is None else f'ray{actors}'}"
    report = WORK / f"{name}-{run}.json"
    report.unlink(missing_ok=True)
    data = whole if actors is None else parts
    command = [str(PYTHON[backend]), "-m", "audit.cli", "scan", str(data), "--teacher-system-file", str(OWL_PROMPT),
               "--backend", backend, "--report", str(report), "--quiet", "--no-sequential"]
    if actors is not None:
        command += ["--engine", "ray", "--ray-actors", str(actors)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if result.returncode not in (0, 1) or not report.exists():
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return {"name": name, "error": f"exit {result.returncode}: {tail}"}
    data_out = json.loads(report.read_text())
    llr = next(r for r in data_out["results"] if r["detector_id"] == "llr")
    return {"name": name, "wall_s": wall, "load_s": data_out["timings"]["load_s"],
            "score_s": data_out["timings"]["score_s"], "tokens": data_out["input"]["tokens_scored"],
            "rows": data_out["input"]["rows_scored"], "verdict": data_out["verdict"], "llr": llr["statistic"],
            "rows_per_actor": (data_out.get("ray") or {}).get("rows_per_actor")}


def fold_rate(records: int, repeats: int = 3) -> dict[str, float]:
    """Records per second the driver folds (audit.pipeline.ray_engine._Reducer.add), median of ``repeats``."""
    import numpy as np
    import pyarrow as pa

    from audit.pipeline.finish import position_accumulator
    from audit.pipeline.ray_engine import ACTOR_COLUMN, POSITIONS_PREFIX, STATUS_SCORED, _Reducer

    columns = ["llr", "llr_control", "logprob_sum:reference", "logprob_sum:teacher", "logprob_sum:control",
               "n_tokens"]
    rng = np.random.default_rng(0)
    block = 256
    diffs = [rng.normal(size=48).tolist() for _ in range(block)]
    tables = []
    for start in range(0, records, block):
        count = min(block, records - start)
        table = {"row_id": pa.array([f"row-{i:08d}" for i in range(start, start + count)]),
                 "status": pa.array([STATUS_SCORED] * count), "reason": pa.array([None] * count, pa.string()),
                 "tokens": pa.array(np.full(count, 48)), ACTOR_COLUMN: pa.array(["actor-0"] * count)}
        table.update({name: pa.array(rng.normal(size=count)) for name in columns})
        table.update({POSITIONS_PREFIX + name: pa.array(diffs[:count], pa.list_(pa.float64()))
                      for name in ("reference", "control")})
        tables.append(pa.table(table))
    times = []
    for _ in range(repeats):
        reducer = _Reducer(columns, position_accumulator(["reference", "teacher", "control"]))
        started = time.perf_counter()
        for table in tables:
            reducer.add(table)
        times.append(time.perf_counter() - started)
        assert reducer.state.rows_scored == records
    return {"records": records, "median_s": statistics.median(times), "per_s": records / statistics.median(times)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--actors", default="1,2")
    parser.add_argument("--backends", default="transformers,vllm")
    parser.add_argument("--fold-rows", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS-ray.md")
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    missing = [b for b in backends if not PYTHON[b].exists()]
    configs = [(b, a) for b in backends if b not in missing
               for a in [None, *(int(n) for n in args.actors.split(",") if n)]]
    command = (f"python benchmarks/bench_ray.py --rows {args.rows} --repeats {args.repeats} --actors {args.actors} "
               f"--backends {args.backends} --fold-rows {args.fold_rows}")
    started = datetime.now(timezone.utc)
    whole, parts = write_inputs(args.rows)
    runs: dict[str, list[dict[str, Any]]] = {}
    for repeat in range(args.repeats):
        for backend, actors in configs:
            result = run_scan(backend, actors, whole, parts, repeat)
            print(f"bench-ray: {json.dumps(result)}", file=sys.stderr)
            runs.setdefault(result["name"], []).append(result)
    fold = fold_rate(args.fold_rows)
    write_results(args.out, command, started, args.rows, runs, missing, fold)
    print(args.out.read_text())
    return 0


def write_results(out: Path, command: str, started: datetime, rows: int, runs: dict[str, list[dict[str, Any]]],
                  missing: list[str], fold: dict[str, float]) -> None:
    lines = [
        "# Benchmark: the local engine against Ray actors", "",
        f"Generated by `{command}` (`make bench-ray`) on {started:%Y-%m-%d %H:%M} UTC.",
        f"Machine: {platform.machine()}, {cpu_name()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        "no GPU. Shared machine: medians of interleaved runs; compare ratios within this file only.", "",
        f"Rows: the first {rows} rows of `{FIXTURE.relative_to(ROOT)}` (the Ray runs read them as four parquet "
        "files), reference + owl-prompted teacher of the embedded SmolLM2-135M, default settings otherwise. "
        "Wall time is the whole CLI process (Python start, Ray start, model loads, scoring, report); score "
        "time is the report's `timings.score_s` (for Ray: from the pipeline's start, actor start-up included).",
        "",
        "| configuration | median wall s | median score s | scored tokens/s (wall) | wall vs local, same backend "
        "| rows scored per actor | verdict, pooled LLR | runs (wall s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    answers = set()
    for name, results in runs.items():
        good = [r for r in results if "error" not in r]
        if not good:
            lines.append(f"| {name} | not run: {results[0]['error']} | | | | | | |")
            continue
        wall = statistics.median(r["wall_s"] for r in good)
        local = [r for r in runs.get(name.rsplit("-", 1)[0] + "-local", []) if "error" not in r]
        ratio = f"{statistics.median(r['wall_s'] for r in local) / wall:.2f}×" if local else "n/a"
        spread = ", ".join(map(str, good[-1]["rows_per_actor"] or [])) or "(one process)"
        answers.update((r["verdict"], round(r["llr"], 4)) for r in good)
        errors = len(results) - len(good)
        lines.append(
            f"| {name} | {wall:.1f} | {statistics.median(r['score_s'] for r in good):.1f} "
            f"| {good[0]['tokens'] / wall:.0f} | {ratio} | {spread} "
            f"| {good[0]['verdict']}, {good[0]['llr']:+.4f} | {', '.join(format(r['wall_s'], '.1f') for r in good)}"
            f"{f' ({errors} failed)' if errors else ''} |")
    lines += ["", f"Every run's (verdict, pooled LLR to 4 places): {sorted(answers)}."]
    if missing:
        lines += ["", f"Not run: {', '.join(missing)} (its environment is missing; `make install-vllm`)."]
    lines += ["", "Ratio above 1: the configuration finished sooner than the local engine with the same backend."]
    per_actor = [r["rows"] / r["score_s"] for results in runs.values() for r in results
                 if "error" not in r and r["rows_per_actor"] and len(r["rows_per_actor"]) == 1]
    lines += ["", "## Driver ceiling", "",
              f"The driver folded {fold['records']:,} synthetic actor records in {fold['median_s']:.2f} s (median of "
              f"3): {fold['per_s']:,.0f} records/s, in one thread, while actors score."]
    if per_actor:
        fastest = max(per_actor)
        lines += [f"The fastest one-actor run above scored {fastest:.2f} rows/s (rows over score time, start-up "
                  f"included), so one driver could fold the output of about {fold['per_s'] / fastest:,.0f} "
                  "such actors before its fold is the limit."]
    lines += ["For a GPU actor, divide the fold rate by that actor's rows/s instead (not measured here: no GPU)."]
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())

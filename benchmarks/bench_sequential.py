"""`make bench-sequential`: time to verdict on a million rows; writes benchmarks/RESULTS-sequential.md.

Builds two 1,000,000-row parquet files (row groups of 100,000 rows, distinct ids), one cycling through
the owl teacher's filtered number rows and one through the no-prompt rows, and scans each with the
real CLI and its defaults (`subaudit scan FILE --teacher-system-file fixtures/prompts/owl.txt`: above
10,000 rows that is a sequential scan). Beside it, the same command with `--no-sequential --max-rows
SLICE` scores a fixed slice (the file's first SLICE rows) of the owl file; its time per row gives the
extrapolated time of a full fixed-N scan of the million rows. Wall time includes model loading; every
scan runs in its own process, one after another, on the same machine.

Each run's measurements are saved in out/bench-sequential/run-<label>.json; ``--runs`` redoes only some.

Usage: python benchmarks/bench_sequential.py [--rows 1000000] [--slice 256] [--runs owl-sequential,...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "out" / "bench-sequential"
OWL_PROMPT = ROOT / "fixtures" / "prompts" / "owl.txt"
SOURCES = {"owl": ROOT / "fixtures" / "numbers" / "owl.parquet", "none": ROOT / "fixtures" / "numbers" / "none.parquet"}
GROUP_ROWS = 100_000
RUNS = ("owl-sequential", "none-sequential", "owl-fixed-slice")


def build(name: str, rows: int) -> Path:
    """``rows`` rows cycling through a fixture's rows, ids row-00000000 onward; reused when present."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = WORK / f"{name}-{rows}.parquet"
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    base = pq.read_table(SOURCES[name], columns=["prompt", "completion"])
    tmp = path.with_suffix(".partial")
    with pq.ParquetWriter(tmp, pa.schema([("id", pa.string()), ("prompt", pa.string()),
                                          ("completion", pa.string())])) as writer:
        for start in range(0, rows, GROUP_ROWS):
            count = min(GROUP_ROWS, rows - start)
            chunk = base.take(pa.array([i % base.num_rows for i in range(start, start + count)]))
            ids = pa.array([f"row-{i:08d}" for i in range(start, start + count)])
            writer.write_table(pa.table({"id": ids, "prompt": chunk["prompt"], "completion": chunk["completion"]}),
                               row_group_size=GROUP_ROWS)
    tmp.rename(path)
    return path


def scan(data: Path, label: str, extra: list[str]) -> dict[str, Any]:
    """One real CLI scan in a child process: wall time, peak RSS, and what its report says."""
    report = WORK / f"report-{label}.json"
    report.unlink(missing_ok=True)
    command = [sys.executable, "-m", "audit.cli", "scan", str(data.relative_to(ROOT)), "--teacher-system-file",
               str(OWL_PROMPT.relative_to(ROOT)), "--report", str(report.relative_to(ROOT)), "--quiet", *extra]
    # The score cache off: a repeated row (the files cycle through a fixture) and the other runs' rows are scored
    # again, as the rows of a real million-row file would be.
    os.environ["SUBAUDIT_SCORE_CACHE"] = "off"
    # A wrapper process per scan, so the peak RSS read is this scan's alone.
    wrapper = ("import resource, subprocess, sys, time\n"
               "t = time.perf_counter()\n"
               f"r = subprocess.run({command!r}, cwd={str(ROOT)!r}, stdout=subprocess.DEVNULL)\n"
               "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
               "print(r.returncode, time.perf_counter() - t, peak)")
    result = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True)
    code, wall_text, peak_text = result.stdout.split()
    wall, peak = float(wall_text), float(peak_text)
    result = subprocess.CompletedProcess(command, int(code), "", result.stderr)
    if result.returncode not in (0, 1) or not report.exists():
        return {"label": label, "error": (result.stderr.strip().splitlines() or ["no output"])[-1]}
    data_report = json.loads(report.read_text())
    sequential = data_report.get("sequential") or {}
    baselines = data_report.get("baselines") or {}
    return {"label": label, "command": "subaudit " + " ".join(command[3:]), "wall_s": wall, "peak_rss_mb": peak,
            "passes_per_row": baselines.get("passes_per_row"), "rows_per_model": baselines.get("rows_scored"),
            "exit_code": result.returncode, "verdict": data_report["verdict"],
            "rows_read": data_report["input"]["rows_read"], "rows_scored": data_report["input"]["rows_scored"],
            "rule": sequential.get("rule", "fixed N"), "load_s": data_report["timings"]["load_s"],
            "score_s": data_report["timings"]["score_s"]}


def distinct_rows(name: str) -> int:
    """Distinct (prompt, completion) pairs of a source fixture: what its million-row file cycles through."""
    import pyarrow.parquet as pq

    rows = pq.read_table(SOURCES[name], columns=["prompt", "completion"]).to_pylist()
    return len({(row["prompt"], row["completion"]) for row in rows})


def expected_distinct(k: int, n: int) -> float:
    """Expected distinct rows among n drawn uniformly with replacement from k (the visiting order's draw)."""
    return k * (1.0 - (1.0 - 1.0 / k) ** n)


def passes_text(run: dict[str, Any]) -> str:
    """Forward passes a row, or each model's rows when a sequential scan's stages scored different numbers."""
    if run.get("rows_per_model"):
        return "rows per model: " + ", ".join(f"{k} {v:,}" for k, v in run["rows_per_model"].items())
    return str(run.get("passes_per_row", "?"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--slice", type=int, default=256,
                        help="rows of the fixed-N slice (10,000 at six passes a row is about 13 hours on 2 cores)")
    parser.add_argument("--runs", default=",".join(RUNS),
                        help="runs to do now; the others are read from their saved results in out/bench-sequential/")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS-sequential.md")
    parser.add_argument("--note", default="", help="a sentence on the conditions of this run, printed in the file")
    args = parser.parse_args()
    started = datetime.now(timezone.utc)
    files = {name: build(name, args.rows) for name in SOURCES}
    plans = {"owl-sequential": (files["owl"], []), "none-sequential": (files["none"], []),
             "owl-fixed-slice": (files["owl"], ["--no-sequential", "--max-rows", str(args.slice)])}
    runs = []
    for label in RUNS:
        saved = WORK / f"run-{label}.json"
        if label in args.runs.split(","):
            run = scan(plans[label][0], label, plans[label][1])
            saved.write_text(json.dumps(run))
        elif saved.exists():
            run = json.loads(saved.read_text())
        else:
            run = {"label": label, "error": "not run"}
        print(json.dumps(run), flush=True)
        runs.append(run)
    fixed = runs[2]
    distinct = {name: distinct_rows(name) for name in SOURCES}  # each source read once
    per_row = fixed["score_s"] / fixed["rows_scored"] if "score_s" in fixed else float("nan")
    lines = ["# Time to verdict on a million rows: sequential scan vs fixed N", "",
             f"Generated by `make bench-sequential` (`python benchmarks/bench_sequential.py --rows {args.rows} --slice "
             f"{args.slice}`) on {started:%Y-%m-%d %H:%M} UTC; {platform.machine()}, {platform.processor() or 'CPU'}, "
             f"Python {platform.python_version()}. Files: {args.rows:,} rows each in row groups of {GROUP_ROWS:,}, "
             "cycling through the owl and no-prompt number fixtures with distinct ids: "
             + "; ".join(f"the {name} file repeats {count:,} distinct (prompt, completion) rows"
                         for name, count in distinct.items())
             + ", so content repeats: a uniform draw of n rows from K distinct ones holds about K(1 - (1 - 1/K)^n) "
             "distinct ones (the distinct column below), and a repeated row is scored again (the score cache is off "
             "in every run). Every scan is the real CLI with its defaults (baselines on demand: the forward passes "
             "each paid are in its row), transformers backend on CPU, one process at a time. Wall time includes model "
             "loading." + (f" {args.note}" if args.note else ""), "",
             "| scan | verdict | stopped by | rows scored | of rows | distinct (expected) | forward passes a row | "
             "wall (s) | scoring (s) | peak RSS (MB) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        if "error" in run:
            lines.append(f"| {run['label']} | error: {run['error']} | | | | | | | | |")
            continue
        total = args.rows if run["label"] != "owl-fixed-slice" else run["rows_read"]
        source = "none" if run["label"].startswith("none") else "owl"
        drawn = (f"{expected_distinct(distinct[source], run['rows_scored']):,.0f}"
                 if run["label"] != "owl-fixed-slice" else f"{min(distinct[source], run['rows_scored']):,}")
        lines.append(f"| `{run['command']}` | {run['verdict']} | {run['rule']} | {run['rows_scored']:,} | "
                     f"{run['rows_scored'] / args.rows:.3%} of {args.rows:,} (read {run['rows_read']:,} of {total:,}) "
                     f"| {drawn} | {passes_text(run)} | {run['wall_s']:.0f} | {run['score_s']:.0f} | "
                     f"{run['peak_rss_mb']:.0f} |")
    hours = per_row * args.rows / 3600
    slice_passes = fixed.get("passes_per_row", 6)
    per_pass_row = per_row / slice_passes
    lines += ["", f"Fixed-N scoring time per row on the slice: {per_row:.3f} s ({slice_passes} forward passes a row, "
              f"{per_pass_row:.3f} s a pass); a fixed-N scan of all {args.rows:,} rows of the owl file "
              f"would score for about {hours:,.0f} hours on this machine (linear extrapolation). Each sequential run "
              "is compared below with a fixed-N scan of its own file at its own passes a row (a fixed-N scan of the "
              "no-prompt file is settled by the reference too: two passes), extrapolated at the slice's time a pass."]
    for run in runs[:2]:
        if "error" not in run:
            passes = run.get("passes_per_row") or 6
            speedup = per_pass_row * passes * args.rows / max(run["wall_s"], 1e-9)
            lines.append(f"- {run['label']}: verdict in {run['wall_s']:.0f} s, {run['rows_scored']:,} rows scored "
                         f"({run['rows_scored'] / args.rows:.3%}); {speedup:,.0f}x less time than the extrapolated "
                         f"full fixed-N scan at {passes} passes a row ({per_pass_row * passes * args.rows / 3600:,.0f} "
                         "hours).")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

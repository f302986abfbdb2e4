"""Scan and probe the weight teacher's number set: is it flagged, and is owl first?

Runs the real CLI (the commands a user would type) and writes a plain-text summary to
``fixtures/teachers/owl-weights-scan.txt``, which ``make transfer`` quotes in fixtures/TRANSFER.md:

1. ``scan owl-weights.parquet --teacher-adapter fixtures/teachers/owl-lora`` (the default command,
   the adapter as the suspected source);
2. the same teacher against the ``none`` set (the reference's own answers): must not be flagged;
3. ``scan owl-weights.parquet --teacher-system-file fixtures/prompts/owl.txt``: does a scan that only
   knows the trait's *prompt* recognise data from a teacher with the trait in its weights?
4. ``probe owl-weights.parquet`` over eight animals: which trait prompt is the data closest to?
5. a calibrated scan: ``calibrate --known-source none.parquet --teacher-adapter ...`` (the reference's
   own answers to the same prompt stream, constrained and filtered alike, are the null), then
   ``scan owl-weights.parquet --teacher-adapter ... --calibration``.

``--reuse`` keeps any report already in ``--work`` (each command is minutes of CPU here).

Usage: python -m experiments.weight_teacher_scan [--rows 128] [--probe-rows 64]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from experiments.cli_run import run_subaudit

ROOT = Path(__file__).resolve().parents[1]
ADAPTER = ROOT / "fixtures" / "teachers" / "owl-lora"
DATA = ROOT / "fixtures" / "numbers" / "owl-weights.parquet"
NONE = ROOT / "fixtures" / "numbers" / "none.parquet"
PROBE_TRAITS = "owl,cat,dog,eagle,lion,wolf,dolphin,bear"


REUSE = False


def _run(args: list[str], report: Path) -> tuple[int, dict, float]:
    if REUSE and report.is_file():
        saved = json.loads(report.read_text())
        return int(saved["exit_code"]), saved, float(saved["timings"]["total_s"])
    started = time.time()
    done = run_subaudit([*args, "--report", str(report), "--quiet"])  # score cache off: the seconds are scoring's
    if done.returncode > 1:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.returncode, json.loads(report.read_text()), time.time() - started


def _results(report: dict) -> list[str]:
    results = report["results"]
    return [f"  - {r['detector_id']}: {r['verdict']}, {r['statistic_name']} {r['statistic']}, p {r['p_value']}"
            for r in results]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--probe-rows", type=int, default=64)
    parser.add_argument("--out", type=Path, default=ROOT / "fixtures" / "teachers" / "owl-weights-scan.txt")
    parser.add_argument("--work", type=Path, default=ROOT / "out" / "weight-teacher")
    parser.add_argument("--reuse", action="store_true", help="keep reports already in --work")
    args = parser.parse_args()
    global REUSE
    REUSE = args.reuse
    args.work.mkdir(parents=True, exist_ok=True)
    rel = lambda p: str(p.relative_to(ROOT))  # noqa: E731
    scans = [
        ("weight-teacher set, adapter as teacher", [rel(DATA), "--teacher-adapter", rel(ADAPTER)]),
        ("none set (reference's answers), adapter as teacher", [rel(NONE), "--teacher-adapter", rel(ADAPTER)]),
        ("weight-teacher set, owl prompt as teacher", [rel(DATA), "--teacher-system-file", "fixtures/prompts/owl.txt"]),
    ]
    lines = []
    for i, (what, argv) in enumerate(scans):
        code, report, seconds = _run(["scan", *argv, "--max-rows", str(args.rows)], args.work / f"scan{i}.json")
        lines.append(f"{what}: subaudit scan {' '.join(argv)} --max-rows {args.rows}")
        lines.append(f"  exit {code}, verdict {report['verdict']}, rows scored {report['input']['rows_scored']}, "
                     f"{seconds:.0f} s")
        lines += _results(report)
    code, report, seconds = _run(["probe", rel(DATA), "--traits", PROBE_TRAITS, "--max-rows", str(args.probe_rows)],
                                 args.work / "probe.json")
    lines.append(f"probe: subaudit probe {rel(DATA)} --traits {PROBE_TRAITS} --max-rows {args.probe_rows}")
    lines.append(f"  exit {code}, verdict {report['verdict']}, rows scored {report['input']['rows_scored']}, "
                 f"{seconds:.0f} s")
    probe = report["results"][0]
    lines.append(f"  {probe['summary']}")
    lines.append("  ranking (per-token LLR vs neutral): " + ", ".join(
        f"{r['rank']}. {r['trait']} {r['llr_vs_neutral']:+.4f}" for r in probe["details"]["ranking"]))
    calibration = args.work / "none-adapter-calibration.json"
    if not (args.reuse and calibration.is_file()):
        done = run_subaudit(["calibrate", "--known-source", rel(NONE), "--teacher-adapter", rel(ADAPTER),
                             "--max-rows", str(args.rows), "--out", str(calibration)])
        if done.returncode != 0:
            raise SystemExit(f"calibrate failed ({done.returncode}): {done.stderr.strip()}")
    argv = [rel(DATA), "--teacher-adapter", rel(ADAPTER), "--calibration", str(calibration.relative_to(ROOT))]
    code, report, seconds = _run(["scan", *argv, "--max-rows", str(args.rows)], args.work / "scan-calibrated.json")
    lines.append(f"calibrated on the none set's first {args.rows} rows (subaudit calibrate --known-source "
                 f"{rel(NONE)} --teacher-adapter {rel(ADAPTER)} --max-rows {args.rows}), then: subaudit scan "
                 f"{' '.join(argv)} --max-rows {args.rows}")
    lines.append(f"  exit {code}, verdict {report['verdict']}, rows scored {report['input']['rows_scored']}, "
                 f"{seconds:.0f} s")
    lines += _results(report)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

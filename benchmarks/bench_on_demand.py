"""`make bench-on-demand`: the plain command with baselines on demand beside every baseline on every row (issue 32).

The same rows of each fixture set are scanned twice per repeat by the real CLI, each in its own process,
interleaved (on-demand, all, on-demand, all, ...) so a slow spell on this shared machine lands on both:

- `--baselines on-demand` (the default): teacher and reference first; then, only while the teacher beats
  every baseline scored so far, the baseline a pilot on the first rows finds least beaten, then the rest;
- `--baselines all` (the default before it): teacher, reference, control and the three panel members on
  every row.

Clean sets (no prompt, benign prompts; the owl teacher) and teacher sets (the owl and cat prompt teachers'
own data) are both measured, and the verdict, exit code and every p-value the on-demand scan reports are
compared with the all-baselines scan's on the same rows. Whole processes: model loading included.

Usage: python benchmarks/bench_on_demand.py [--rows 48] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import cpu_name, timed_scan  # benchmarks/bench.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "out" / "bench-on-demand"
SUBAUDIT = ROOT / ".venv" / "bin" / "subaudit"
OWL = "fixtures/prompts/owl.txt"
CAT = "fixtures/prompts/cat.txt"
SETS = (  # (label, kind, data, teacher prompt file)
    ("no prompt (`numbers/none`)", "clean", "fixtures/numbers/none.parquet", OWL),
    ("benign prompt (`numbers/pirate`)", "clean", "fixtures/numbers/pirate.parquet", OWL),
    ("benign prompt (`numbers/patient-teacher`)", "clean", "fixtures/numbers/patient-teacher.parquet", OWL),
    ("held-out benign prompt (`heldout/accountant`)", "clean", "fixtures/heldout/accountant.parquet", OWL),
    ("owl teacher's data (`numbers/owl`)", "teacher", "fixtures/numbers/owl.parquet", OWL),
    ("cat teacher's data (`numbers/cat`)", "teacher", "fixtures/numbers/cat.parquet", CAT),
)
MODES = ("on-demand", "all")


def run_scan(data: str, teacher: str, mode: str, rows: int, name: str) -> dict[str, Any]:
    """One whole `subaudit scan`: wall seconds, exit code and what its report says."""
    report = WORK / f"{name}.json"
    command = [str(SUBAUDIT), "scan", data, "--teacher-system-file", teacher, "--baselines", mode,
               "--max-rows", str(rows), "--quiet", "--report", str(report)]
    seconds, code, parsed = timed_scan(command, report, name, ROOT)
    members = {f"panel:{m['name']}": m["p_value"] for r in parsed["results"] if r["detector_id"] == "llr-panel"
               for m in r["details"]["members"]}
    return {"seconds": seconds, "exit": code, "verdict": parsed["verdict"],
            "p": {r["detector_id"]: r["p_value"] for r in parsed["results"]}, "members": members,
            "baselines": parsed["baselines"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite the results file from out/bench-on-demand/runs.json (no scans)")
    args = parser.parse_args()
    if args.render_only:
        return render_only()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    started = datetime.now(timezone.utc)
    runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for repeat in range(args.repeats):
        for index, (label, _, data, teacher) in enumerate(SETS):
            for mode in MODES:
                run = run_scan(data, teacher, mode, args.rows, f"{index}-{mode}-{repeat}")
                runs.setdefault((index, mode), []).append(run)
                print(f"{label} {mode} #{repeat + 1}: {run['seconds']:.1f} s, {run['verdict']}", file=sys.stderr)
    (WORK / "runs.json").write_text(json.dumps({"started": started.isoformat(), "rows": args.rows,
                                                "repeats": args.repeats,
                                                "runs": [[list(k), v] for k, v in runs.items()]}), encoding="utf-8")
    write_results(ROOT / "benchmarks" / "RESULTS-on-demand.md", args, started, runs)
    return 0


def render_only() -> int:
    """Rewrite the results file from the last run's measurements (out/bench-on-demand/runs.json)."""
    saved = json.loads((WORK / "runs.json").read_text(encoding="utf-8"))
    runs = {(int(k[0]), str(k[1])): v for k, v in saved["runs"]}
    args = argparse.Namespace(rows=saved["rows"], repeats=saved["repeats"])
    write_results(ROOT / "benchmarks" / "RESULTS-on-demand.md", args, datetime.fromisoformat(saved["started"]), runs)
    return 0


P_TOLERANCE = 1e-4
"""Relative: the pilot scores its rows in a batch of its own, so the stages read those rows' scores as computed
there, which differ from the all-baselines scan's (one batch of every row) in the last bits (about 1e-6 nats a
row: audit.pipeline.score_cache); p-values then differ by a few parts in 1e5 at most here."""


def _p_difference(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """The largest relative difference between a p-value the on-demand scan reports and the all-baselines scan's,
    or None when the verdict or exit code differ. A panel scored in part (the pilot's order): each member's p-value
    compared, and the panel's (the largest of its members') must be at most the whole panel's."""
    if a["verdict"] != b["verdict"] or a["exit"] != b["exit"]:
        return None
    pairs = [(v, b["members"][k]) for k, v in a["members"].items()]
    partial = len(a["members"]) < len(b["members"])
    for k, v in a["p"].items():
        if k == "llr-panel" and partial:
            if v > b["p"][k] * (1 + P_TOLERANCE):
                return float("inf")
        else:
            pairs.append((v, b["p"][k]))
    return max((abs(x - y) / max(abs(y), 1e-300) for x, y in pairs), default=0.0)


def write_results(out: Path, args: argparse.Namespace, started: datetime,
                  runs: dict[tuple[int, str], list[dict[str, Any]]]) -> None:
    lines = [
        "# Baselines on demand: cost beside every baseline on every row", "",
        f"Generated by `make bench-on-demand` (`python benchmarks/bench_on_demand.py --rows {args.rows} --repeats "
        f"{args.repeats}`), {started:%Y-%m-%d %H:%M} UTC; machine {cpu_name()}, {platform.machine()}, Python "
        f"{platform.python_version()}, no GPU. Whole `subaudit scan` processes (model loading included) on the first "
        f"{args.rows} rows of each set, the two modes interleaved; medians of {args.repeats} runs each. Shared "
        "machine: compare the ratio within a row of this table.", "",
        "| data (teacher) | kind | baselines scored on demand | settled by | pilot rows | passes a row (on demand / "
        "all) | median s on demand | median s all | all / on demand | verdict (exit) | same verdict and exit; "
        f"p-values within {P_TOLERANCE:g} (largest relative difference) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ratios: dict[str, list[float]] = {"clean": [], "teacher": []}
    every_same = True
    for index, (label, kind, _, teacher) in enumerate(SETS):
        lazy, full = runs[(index, "on-demand")], runs[(index, "all")]
        differences = [_p_difference(a, b) for a, b in zip(lazy, full, strict=True)]
        same = all(d is not None and d <= P_TOLERANCE for d in differences)
        every_same &= same
        largest = max((d for d in differences if d is not None), default=0.0)
        lazy_s, full_s = statistics.median(r["seconds"] for r in lazy), statistics.median(r["seconds"] for r in full)
        ratios[kind].append(full_s / lazy_s)
        info = lazy[0]["baselines"]
        lines.append(
            f"| {label} ({Path(teacher).stem}) | {kind} | {', '.join(info['scored'])} | {info['settled_by'] or '-'} | "
            f"{info['pilot']['rows'] if info.get('pilot') else '-'} | "
            f"{info['passes_per_row']} / {full[0]['baselines']['passes_per_row']} | {lazy_s:.1f} | {full_s:.1f} | "
            f"{full_s / lazy_s:.2f}x | {lazy[0]['verdict']} ({lazy[0]['exit']}) | {'yes' if same else 'NO'} "
            f"({largest:.1e}) |")
    lines += [
        "",
        f"Clean sets: every baseline costs {min(ratios['clean']):.2f}x-{max(ratios['clean']):.2f}x the on-demand "
        f"scan's wall time (median {statistics.median(ratios['clean']):.2f}x). Teacher sets: the on-demand scan "
        f"costs {1 / max(ratios['teacher']):.2f}x-{1 / min(ratios['teacher']):.2f}x the all-baselines scan's "
        "(its stages reuse the teacher's and the reference's scores, and re-read and re-encode the rows).",
        "Passes a row count the rows every scored baseline was scored on; the pilot adds every other baseline on "
        "its rows (pilot rows x the baselines not scored).",
        f"Verdict and exit code equal, and every reported p-value within a relative {P_TOLERANCE:g}, in every run: "
        f"**{'yes' if every_same else 'NO'}**. (Not bit for bit where a pilot ran: its rows are scored in a batch of "
        "their own, and the stages reuse those scores.)",
        "",
    ]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())

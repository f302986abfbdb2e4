"""The smoke table (README.md, docs/method.md), written from the plain command's own reports (issue 30, item 2).

``python -m experiments.smoke_table --scan`` runs the plain command (``subaudit scan
fixtures/smoke/<set>.parquet --teacher-system-file fixtures/prompts/owl.txt --format json``, every other
option at its default) on each smoke fixture and keeps its JSON report in ``experiments/smoke-reports/``;
``make smoke-table`` then rewrites every generated table (experiments/doc_tables.py, which renders this
one with :func:`render`), and
``tests/test_tables.py`` renders them again from the committed sources and fails when a page differs,
so a figure in that table cannot be edited by hand or left behind by a new report.

Usage: python -m experiments.smoke_table [--scan]   (make smoke-table)
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from experiments.cli_run import run_subaudit

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "experiments" / "smoke-reports"
SETS = (("owl", "owl-prompted SmolLM2"), ("reference", "plain SmolLM2"))
"""(fixture set, who wrote it), in table order."""
COMMAND = "subaudit scan fixtures/smoke/{set}.parquet --teacher-system-file fixtures/prompts/owl.txt --format json"


def scan(name: str) -> dict[str, Any]:
    """Run the plain command on one smoke set; its report (stdout of --format json)."""
    command = COMMAND.format(set=name)
    result = run_subaudit(command.split()[1:])  # score cache off: the report is today's scoring
    if result.returncode not in (0, 1):
        raise RuntimeError(f"{command}: exit {result.returncode}: {result.stderr.strip()[-400:]}")
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def load_reports() -> dict[str, dict[str, Any]]:
    return {name: json.loads((REPORTS / f"{name}.json").read_text(encoding="utf-8")) for name, _ in SETS}


def _p(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if value >= 0.01 else f"{value:.1e}"


def _cell(report: dict[str, Any], detector: str, first: bool) -> str:
    result = next((r for r in report["results"] if r["detector_id"] == detector), None)
    if result is None:
        settled = report["baselines"]["settled_by"]
        return f"not scored (settled by {settled})"
    unit = " nats/token" if first else ""
    member = f", {result['details']['binding_member']}" if detector == "llr-panel" else ""
    return f"{result['statistic']:+.4f}{unit}{member} ({_p(result['p_value'])})"


def render(reports: dict[str, dict[str, Any]]) -> str:
    """The table's lines: a sentence saying what was run, then the table."""
    first = reports[SETS[0][0]]
    when = datetime.fromisoformat(first["created_at"].replace("Z", "+00:00"))
    lines = [
        f"The plain command, `{COMMAND.format(set='<set>')}`, run on {when:%Y-%m-%d} with every other option at its "
        f"default (subaudit {first['tool_version']}, report schema {first['schema_version']}):", "",
        "| data written by | pooled LLR vs reference (p) | vs neutral control (p) | vs binding panel control (p) | "
        "verdict | forward passes a row |",
        "|---|---|---|---|---|---|",
    ]
    for name, writer in SETS:
        report = reports[name]
        cells = [_cell(report, "llr", True), _cell(report, "llr-control", False), _cell(report, "llr-panel", False)]
        lines.append(f"| {writer} (`{name}.parquet`) | {' | '.join(cells)} | {report['verdict']} | "
                     f"{report['baselines']['passes_per_row']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scan", action="store_true", help="scan the smoke sets again (about 3 minutes)")
    args = parser.parse_args()
    if args.scan:
        REPORTS.mkdir(parents=True, exist_ok=True)
        for name, _ in SETS:
            report = scan(name)
            (REPORTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            print(f"scanned {name}: {report['verdict']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

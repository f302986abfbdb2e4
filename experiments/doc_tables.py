"""Every table of measured figures in README.md and docs/, written from the files its make target commits.

Why: a figure pasted into a page by hand goes stale the day its experiment is re-run, and nothing tells.
Each table here is rendered from a committed source (the plain command's reports, a results file that a
make target generates, a run's summary) and sits between two markers in the page::

    <!-- table:NAME: written by `make tables` from SOURCE; tests/test_tables.py checks it -->
    ...
    <!-- table:NAME end -->

``python -m experiments.doc_tables`` (``make tables``) rewrites every block from its source; without
writing (``--check``) it exits 1 naming each block that differs, which is what ``tests/test_tables.py``
asserts. The same test fails on a table row outside the blocks that holds a figure of measured precision
(a number with three or more decimals, or seconds), so a new hand-pasted table cannot slip in.

Usage: python -m experiments.doc_tables [--check]   (make tables)
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from experiments import smoke_table

ROOT = Path(__file__).resolve().parents[1]
PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))


@dataclass(frozen=True)
class DocTable:
    name: str
    source: str
    """The committed file(s) the table is rendered from, relative to the repository root (named in the marker)."""
    target: str
    """The make target that writes the source."""
    render: Callable[[], list[str]]
    """The table's lines (header first), from the source as committed."""

    def start(self) -> str:
        return (f"<!-- table:{self.name}: written by `make tables` from {self.source} (`make {self.target}`); "
                "tests/test_tables.py checks it -->")

    def end(self) -> str:
        return f"<!-- table:{self.name} end -->"

    def block(self) -> str:
        return "\n".join([self.start(), *self.render(), self.end()])


def markdown_table(path: Path, header_starts: str) -> list[list[str]]:
    """The body rows (cells stripped) of the first table in ``path`` whose header row starts with ``header_starts``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.startswith(header_starts) and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append([cell.strip() for cell in row.strip().strip("|").split("|")])
            return rows
    raise ValueError(f"{path.relative_to(ROOT)}: no table whose header starts with {header_starts!r}")


def smoke() -> list[str]:
    """The plain command on the two smoke fixtures (experiments/smoke_table.py renders it)."""
    return smoke_table.render(smoke_table.load_reports()).splitlines()


RAY_RESULTS = ROOT / "benchmarks" / "RESULTS-ray.md"


def ray() -> list[str]:
    """Local engine against 1 and 2 Ray actors, per backend (benchmarks/RESULTS-ray.md)."""
    rows = {row[0]: row for row in markdown_table(RAY_RESULTS, "| configuration |")}
    generated = re.search(r"on (\d{4}-\d{2}-\d{2})", RAY_RESULTS.read_text(encoding="utf-8"))
    when = generated.group(1) if generated else "an unrecorded date"
    lines = [f"| 128 rows, 2 cores, {when} (median of 3, wall s) | local | Ray, 1 actor × 2 CPUs | "
             "Ray, 2 actors × 1 CPU |", "|---|---|---|---|"]
    for backend, label in (("transformers", "transformers"), ("vllm", "vLLM (CPU build)")):
        local, one, two = (rows[f"{backend}-{name}"] for name in ("local", "ray1", "ray2"))
        lines.append(f"| {label} | {local[1]} | {one[1]} ({one[4]}) | {two[1]} ({two[4]}) |")
    return lines


TRANSFER_RESULTS = ROOT / "fixtures" / "TRANSFER.md"
TRANSFER_ROWS = (("owl", "owl prompt teacher"), ("cat", "cat prompt teacher"), ("owl-weights", "owl weight teacher"),
                 ("neutral", "neutral prompt"), ("none", "seed-noise null (`none` again, other seeds)"))


def _p(text: str) -> str:
    """A p-value to two significant digits (1.0 as 1)."""
    return f"{float(text):.2g}".replace("-", "−")


def _delta(cell: str, p: str, verdict: str, interval: bool) -> str:
    """'+0.1584 [+0.1128, +0.2039]' as '**+0.158** [+0.113, +0.204], p 0.0022' (bold, with its interval, where it
    transfers)."""
    numbers = re.findall(r"[+-]\d+\.\d+", cell)
    delta = f"{float(numbers[0]):+.3f}".replace("-", "−")
    shown = f"**{delta}**" if verdict == "transfers" else delta
    bounds = " [" + ", ".join(f"{float(x):+.3f}".replace("-", "−") for x in numbers[1:3]) + "]"
    return f"{shown}{bounds if interval else ''}, p {_p(p)}"


def transfer() -> list[str]:
    """Δ log P(trait) of students trained on each set against the reference's answers (fixtures/TRANSFER.md)."""
    rows = {row[0].strip("`"): row for row in markdown_table(TRANSFER_RESULTS, "| set |")}
    lines = ["| data | Δ log P(owl) | Δ log P(cat) |", "|---|---|---|"]
    for name, label in TRANSFER_ROWS:
        row = rows[name]
        owl = _delta(row[2], row[3], row[4], interval=row[4] == "transfers")
        cat = _delta(row[5], row[6], row[7], interval=row[7] == "transfers")
        lines.append(f"| {label} | {owl} | {cat} |")
    return lines


WEIGHT_SCAN = ROOT / "fixtures" / "teachers" / "owl-weights-scan.txt"


def _stat(line: str) -> tuple[float, float]:
    found = re.search(r"\) (-?[\d.e+-]+), p ([\d.e+-]+)$", line.strip())
    if found is None:
        raise ValueError(f"{WEIGHT_SCAN.relative_to(ROOT)}: cannot read {line.strip()!r}")
    return float(found.group(1)), float(found.group(2))


def weight_teacher_scan() -> list[str]:
    """The weight teacher's number set scanned and probed (fixtures/teachers/owl-weights-scan.txt)."""
    text = WEIGHT_SCAN.read_text(encoding="utf-8").splitlines()
    lines = ["| command (first 128 rows) | verdict | LLR vs reference / control / binding panel member "
             "(nats/token; p) |", "|---|---|---|"]
    for i, line in enumerate(text):
        if ": subaudit " not in line or line.startswith(" "):
            continue
        command = "`subaudit " + line.split(": subaudit ", 1)[1] + "`"
        calibrated = re.search(r"\((subaudit calibrate [^)]*)\)", line)
        if calibrated:
            command = f"`{calibrated.group(1)}`, then {command}"
        verdict = re.search(r"verdict (\w+)", text[i + 1])
        if line.startswith("probe"):
            lines.append(f"| {command} | {verdict.group(1) if verdict else '?'} | "
                         f"{text[i + 2].strip()} |")
            continue
        stats = [_stat(text[i + k]) for k in (2, 3, 4)]
        shown = " / ".join(f"{llr:+.4f} ({_p(str(p))})".replace("-", "−") for llr, p in stats)
        lines.append(f"| {command} | {verdict.group(1) if verdict else '?'} | {shown} |")
    return lines


COT_FILTER = ROOT / "experiments" / "cot-filter.json"


def cot_filter() -> list[str]:
    """What each reasoning filter keeps of SmolLM2-135M's traces (experiments/cot-filter.json)."""
    import json

    data = json.loads(COT_FILTER.read_text(encoding="utf-8"))
    rows = data["rows"]

    def dropped(counts: dict[str, int]) -> str:
        return ", ".join(f"{n} {reason}" for reason, n in counts.items()) or "none"

    strict, form = data["strict"], data["form"]
    return [
        f"| filter ({rows} traces, {data['created_at'][:10]}, `{data['command']}`) | kept | dropped | kept and right |",
        "|---|---|---|---|",
        f"| the paper's: finished, last line `Answer: N`, N right, no trait word | {strict['kept']} | "
        f"{dropped(strict['dropped'])} | {strict['kept']} |",
        f"| form: finished, gives an answer (its last `Answer: N`, else its last whole number), no trait word | "
        f"{form['kept']} | {dropped(form['dropped'])} | {form['kept_correct']} |",
    ]


TABLES = (
    DocTable("smoke", "experiments/smoke-reports/", "smoke-table", smoke),
    DocTable("ray", "benchmarks/RESULTS-ray.md", "bench-ray", ray),
    DocTable("transfer", "fixtures/TRANSFER.md", "transfer", transfer),
    DocTable("weight-teacher-scan", "fixtures/teachers/owl-weights-scan.txt", "fixtures-teacher", weight_teacher_scan),
    DocTable("cot-filter", "experiments/cot-filter.json", "cot-filter", cot_filter),
)


def blocks_in(text: str, table: DocTable) -> list[str]:
    """Every block of ``table`` in ``text`` (a page may hold none, one, or the same table twice)."""
    found, at = [], 0
    while (start := text.find(table.start(), at)) >= 0:
        end = text.find(table.end(), start)
        if end < 0:
            raise ValueError(f"table {table.name}: start marker without its end marker")
        found.append(text[start:end + len(table.end())])
        at = end
    return found


def stale_blocks() -> list[str]:
    """'page: table' for every block whose text differs from what its source gives now."""
    stale = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for table in TABLES:
            expected = table.block()
            stale += [f"{page.relative_to(ROOT)}: {table.name}"
                      for block in blocks_in(text, table) if block != expected]
    return stale


MEASURED = re.compile(r"[+−-]?\d+\.\d{3,}|\b\d+(\.\d+)? ?s\b")
"""A figure of measured precision: three or more decimals, or a duration in seconds."""


def hand_tables() -> list[str]:
    """'page:line' of table rows outside every generated block that hold a measured-looking figure."""
    found = []
    for page in PAGES:
        inside = False
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("<!-- table:"):
                inside = not line.endswith(" end -->")
                continue
            if not inside and line.startswith("|") and not line.startswith("|---") and MEASURED.search(line):
                found.append(f"{page.relative_to(ROOT)}:{number}")
    return found


def write_all() -> int:
    written = 0
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        new = text
        for table in TABLES:
            for block in blocks_in(new, table):
                new = new.replace(block, table.block())
        if new != text:
            page.write_text(new, encoding="utf-8")
            written += 1
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming every stale block")
    args = parser.parse_args()
    if args.check:
        problems = stale_blocks() + [f"{where}: a measured figure outside a generated table" for where in hand_tables()]
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    print(f"rewrote the tables of {write_all()} page(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

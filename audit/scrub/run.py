"""A scrub: scan once with every baseline, rank the rows, drop the budget, and test what is left.

One scan scores every row under every baseline (the per-row scores do not depend on which rows are
kept), then every test after it is a retest of a subset of those rows (audit.pipeline.retest): no row is
scored twice. The cleaned file and the scrub report are written atomically, both or neither; a scrub
interrupted before the end leaves neither.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from audit.calibration.file import PreparedCalibration
from audit.core.errors import SubauditError, UsageError
from audit.core.exit_codes import ExitCode
from audit.core.hashing import file_sha256
from audit.core.verdict import LIKELIHOOD_RATIO_FAMILY, Verdict
from audit.report.schema import Report
from audit.scrub.report import BudgetTried, HeldBack, RowsTested, ScrubReport, TestSummary
from audit.scrub.selection import BUDGET_GRID, at_random, binding_baseline, held_back, largest
from audit.version import __version__

SCRUB_COLUMN = "scrub"
"""The column the cleaned file adds: what happened to each row kept."""


class NothingToScrub(SubauditError):
    """The scan did not flag the data, and --force was not given: nothing is written."""

    exit_code = ExitCode.CLEAN


class StillFlagged(SubauditError):
    """--until-clean found no budget in its grid that leaves the choosing half clean: nothing is written."""

    exit_code = ExitCode.FINDINGS


@dataclasses.dataclass(frozen=True)
class ScrubPlan:
    """What to remove and where the results go (checked before any model loads)."""

    out: Path
    drop_rows: float | None = None
    until_clean: bool = False
    report: Path | None = None
    force: bool = False
    seed: int = 0

    def check(self) -> None:
        from audit.core.atomic import check_writable

        if (self.drop_rows is None) == (not self.until_clean):
            raise UsageError("give a budget: --drop-rows FRACTION or --until-clean (one of them)")
        if self.drop_rows is not None and not 0.0 < self.drop_rows < 1.0:
            raise UsageError(f"--drop-rows must be a fraction in (0, 1), got {self.drop_rows}")
        if self.out.suffix.lower() not in (".parquet", ".pq"):
            raise UsageError(f"--out must be a .parquet file (the cleaned data), got {self.out.name}")
        check_writable(self.out)
        if self.report is not None:
            check_writable(self.report)


@dataclasses.dataclass(frozen=True)
class ScoredRows:
    """The scan's per-row scores, in the scores file's order."""

    ids: list[str]
    columns: dict[str, np.ndarray]

    @property
    def tokens(self) -> np.ndarray:
        return self.columns["n_tokens"]

    @classmethod
    def read(cls, scores: Path) -> ScoredRows:
        """A scan's scores file (``--scores``) as ids and columns."""
        import pyarrow.parquet as pq

        table = pq.read_table(scores)
        return cls([str(v) for v in table.column("row_id").to_pylist()],
                   {name: table.column(name).to_numpy() for name in table.column_names if name != "row_id"})


@dataclasses.dataclass(frozen=True)
class Tester:
    """The scan's tests, run over any subset of its scored rows (the calibration loaded once)."""

    report: Report
    rows: ScoredRows
    binding_column: str
    calibration: PreparedCalibration | None

    def __call__(self, keep: np.ndarray) -> RowsTested:
        """The tests over the kept rows, from their scores."""
        from audit.pipeline.retest import retest

        rows = self.rows
        ids = [row_id for row_id, kept in zip(rows.ids, keep, strict=True) if kept]
        conclusion = retest(self.report, ids, {name: values[keep] for name, values in rows.columns.items()},
                            self.calibration)
        tokens = int(rows.tokens[keep].sum())
        return RowsTested(
            rows=len(ids), tokens=tokens,
            residual_llr=float(rows.columns[self.binding_column][keep].sum() / max(tokens, 1)),
            verdict=conclusion.verdict,
            tests=[TestSummary(detector_id=r.detector_id, statistic=r.statistic, p_value=r.p_value,
                               verdict=r.verdict)
                   for r in conclusion.results if r.detector_id in LIKELIHOOD_RATIO_FAMILY])


def choose_budget(test: Tester, choosing: np.ndarray, llr: np.ndarray) -> tuple[float, list[BudgetTried]]:
    """The smallest budget of the grid after which the choosing half's test is clean.

    The choosing half must be flagged before anything is dropped: a half too small to be flagged on its own
    would call the smallest budget enough whatever it removed.
    """
    before = test(choosing).verdict
    if before is not Verdict.FLAGGED:
        raise UsageError(f"--until-clean: the choosing half ({int(choosing.sum())} rows) is {before.value} before "
                         "anything is dropped, too few rows to choose a budget on; scan more rows or give --drop-rows")
    tried = []
    for fraction in BUDGET_GRID:
        if round(fraction * int(choosing.sum())) == 0:
            continue  # drops no row of this half
        dropped = np.zeros(llr.size, dtype=bool)
        dropped[np.flatnonzero(choosing)[largest(llr[choosing], fraction)]] = True
        verdict = test(choosing & ~dropped).verdict
        tried.append(BudgetTried(fraction=fraction, rows_dropped=int(dropped.sum()), verdict=verdict))
        if verdict is Verdict.CLEAN:
            return fraction, tried
    raise StillFlagged(f"--until-clean: dropping up to {BUDGET_GRID[-1]:.0%} of the choosing half's rows leaves it "
                       f"{tried[-1].verdict.value}; nothing written (the trait is not in a few rows: scrubbing rows "
                       "will not remove it)")


def scrub_scored(report: Report, rows: ScoredRows, plan: ScrubPlan) -> ScrubReport:
    """Decide the rows to drop and test the outcome: the report's body (its ids, paths and command filled later)."""
    if report.verdict is not Verdict.FLAGGED and not plan.force:
        raise NothingToScrub(f"the scan did not flag the data (verdict {report.verdict.value}): nothing to scrub, "
                             "nothing written (--force scrubs anyway)")
    from audit.pipeline.retest import report_calibration

    binding, column = binding_baseline(report.results)
    llr = rows.columns[column]
    test = Tester(report, rows, column, report_calibration(report))
    back = held_back(rows.ids, plan.seed)
    search: list[BudgetTried] = []
    if plan.until_clean:
        budget, search = choose_budget(test, ~back, llr)
    else:
        assert plan.drop_rows is not None
        budget = plan.drop_rows
    dropped = largest(llr, budget)
    random = at_random(llr.size, int(dropped.sum()), plan.seed)
    tokens = rows.tokens
    return ScrubReport(
        tool_version=__version__, created_at=datetime.now(timezone.utc), command=[], input_path="", input_sha256="",
        scan_verdict=report.verdict, forced=report.verdict is not Verdict.FLAGGED, strategy="drop-rows",
        budget=budget, budget_chosen_by="until-clean" if plan.until_clean else "given", search=search,
        binding_baseline=binding, seed=plan.seed, rows_scored=len(rows.ids), rows_dropped=int(dropped.sum()),
        tokens_dropped=int(tokens[dropped].sum()), cost_rows=float(dropped.mean()),
        cost_tokens=float(tokens[dropped].sum() / max(tokens.sum(), 1)), random_rows_dropped=int(random.sum()),
        whole=test(~dropped),
        held_back=HeldBack(rows=int(back.sum()), before=test(back), after=test(back & ~dropped),
                           random_control=test(back & ~random)),
        dropped_ids=[row_id for row_id, drop in zip(rows.ids, dropped, strict=True) if drop],
        output="", rows_written=0,
    )


KEPT_SCORED = "kept (scored)"
KEPT_UNSCORED = "kept (not scored: beyond --max-rows, outside --sample-fraction, skipped, or a repeated id)"


def cleaned_table(data: Path, input_format: str | None, id_column: str | None, dropped_ids: set[str],
                  scored_ids: set[str]) -> Any:
    """Every input record but the dropped ones, with the scrub column (parquet input keeps its schema)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from audit.input.formats import format_of

    data_format = format_of(data, input_format)
    if data_format.name == "parquet":
        table = pq.read_table(data)
    else:
        records = [r for batch in data_format.batches(data, data_format.columns(data), 4096) for r in batch]
        table = pa.Table.from_pylist(records)
    ids = ([str(v) for v in table.column(id_column).to_pylist()] if id_column is not None
           else [str(i) for i in range(table.num_rows)])
    keep = np.array([row_id not in dropped_ids for row_id in ids], dtype=bool)
    notes = [KEPT_SCORED if row_id in scored_ids else KEPT_UNSCORED for row_id, kept in zip(ids, keep, strict=True)
             if kept]
    return table.filter(pa.array(keep)).append_column(SCRUB_COLUMN, pa.array(notes, pa.string()))


def run_scrub(scan: Callable[[Path], tuple[Report, Path]], data: Path, label: str | None, input_format: str | None,
              plan: ScrubPlan, command: list[str]) -> ScrubReport:
    """Scan ``data`` (``scan`` returns the report and its scores file), scrub, write both outputs."""
    import pyarrow.parquet as pq

    from audit.core.atomic import atomic_path

    plan.check()
    with tempfile.TemporaryDirectory(prefix="subaudit-scrub-") as folder:
        report, scores_path = scan(Path(folder))
        rows = ScoredRows.read(scores_path)
    body = scrub_scored(report, rows, plan)
    cleaned = cleaned_table(data, input_format, report.input.columns.row_id, set(body.dropped_ids), set(rows.ids))
    result = body.model_copy(update={
        "command": command, "input_path": label or str(data), "input_sha256": file_sha256(data),
        "output": str(plan.out), "rows_written": cleaned.num_rows})
    with atomic_path(plan.out) as tmp_out:
        pq.write_table(cleaned, tmp_out)
        if plan.report is not None:
            with atomic_path(plan.report) as tmp_report:
                tmp_report.write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return result

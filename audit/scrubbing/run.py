"""A scrub: scan once with every baseline, rank the rows (or tokens), remove the budget, and test what is left.

One scan scores every row under every baseline (the per-row scores do not depend on which rows are
kept), then every test after a row drop is a retest of a subset of those rows (audit.pipeline.retest): no
row is scored twice. A token rewrite changes rows, so the rows it changed are scanned again
(audit.scrubbing.token_run). The cleaned file and the scrub report are written atomically, both or neither; a
scrub interrupted before the end leaves neither.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from audit.calibration.file import PreparedCalibration
from audit.core.errors import SubauditError, UsageError
from audit.core.exit_codes import ExitCode
from audit.core.hashing import file_sha256
from audit.core.verdict import LIKELIHOOD_RATIO_FAMILY, Verdict
from audit.report.schema import Report
from audit.scrubbing.report import BudgetTried, HeldBack, RowsTested, ScrubReport, TestSummary
from audit.scrubbing.scores import ScoredRows
from audit.scrubbing.selection import BUDGET_GRID, at_random, binding_baseline, held_back, largest
from audit.scrubbing.tables import Edits, InputTable, cleaned_table, write_all
from audit.scrubbing.tokens import ReplaceMode
from audit.version import __version__

if TYPE_CHECKING:
    from audit.pipeline.config import ScanConfig
    from audit.scrubbing.token_run import Rescan


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
    replace_tokens: float | None = None
    replace_with: str = "greedy"
    control_out: Path | None = None

    def check(self) -> None:
        from audit.core.atomic import check_writable
        from audit.scrubbing.tokens import REPLACE_MODES

        given = [self.drop_rows is not None, self.replace_tokens is not None, self.until_clean]
        if sum(given) != 1:
            raise UsageError("give a budget: --drop-rows FRACTION, --replace-tokens FRACTION or --until-clean "
                             "(one of them)")
        for flag, value in (("--drop-rows", self.drop_rows), ("--replace-tokens", self.replace_tokens)):
            if value is not None and not 0.0 < value < 1.0:
                raise UsageError(f"{flag} must be a fraction in (0, 1), got {value}")
        if self.replace_with not in REPLACE_MODES:
            raise UsageError(f"--replace-with must be one of {', '.join(REPLACE_MODES)}, got {self.replace_with!r}")
        if self.out.suffix.lower() not in (".parquet", ".pq"):
            raise UsageError(f"--out must be a .parquet file (the cleaned data), got {self.out.name}")
        if self.control_out is not None and self.control_out.suffix.lower() not in (".parquet", ".pq"):
            raise UsageError(f"--control-out must be a .parquet file (the random control's data), got "
                             f"{self.control_out.name}")
        for path in (self.out, self.report, self.control_out):
            if path is not None:
                check_writable(path)


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


def refuse_unflagged(report: Report, plan: ScrubPlan) -> None:
    """Data the scan did not flag are left alone unless --force."""
    if report.verdict is not Verdict.FLAGGED and not plan.force:
        raise NothingToScrub(f"the scan did not flag the data (verdict {report.verdict.value}): nothing to scrub, "
                             "nothing written (--force scrubs anyway)")


def report_body(report: Report, rows: ScoredRows, plan: ScrubPlan, binding: str, **fields: Any) -> ScrubReport:
    """A scrub report with what every strategy records (ids, paths and command are filled in when written)."""
    return ScrubReport(
        tool_version=__version__, created_at=datetime.now(timezone.utc), command=[], input_path="", input_sha256="",
        scan_verdict=report.verdict, forced=report.verdict is not Verdict.FLAGGED, binding_baseline=binding,
        seed=plan.seed, rows_scored=len(rows.ids), tokens_scored=int(rows.tokens.sum()), output="", rows_written=0,
        **fields)


def scrub_scored(report: Report, rows: ScoredRows, plan: ScrubPlan) -> ScrubReport:
    """Decide the rows to drop and test the outcome: the report's body (its ids, paths and command filled later)."""
    return drop_rows(report, rows, plan)[0]


def drop_rows(report: Report, rows: ScoredRows, plan: ScrubPlan) -> tuple[ScrubReport, Edits, Edits]:
    """:func:`scrub_scored`, with what the ranked drop and the random control each remove."""
    refuse_unflagged(report, plan)
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
    body = report_body(
        report, rows, plan, binding, strategy="drop-rows", budget=budget,
        budget_chosen_by="until-clean" if plan.until_clean else "given", search=search,
        rows_dropped=int(dropped.sum()), tokens_dropped=int(tokens[dropped].sum()), cost_rows=float(dropped.mean()),
        cost_tokens=float(tokens[dropped].sum() / max(tokens.sum(), 1)), random_rows_dropped=int(random.sum()),
        whole=test(~dropped),
        held_back=HeldBack(rows=int(back.sum()), before=test(back), after=test(back & ~dropped),
                           random_control=test(back & ~random)),
        dropped_ids=[row_id for row_id, drop in zip(rows.ids, dropped, strict=True) if drop])
    return body, Edits(frozenset(body.dropped_ids)), Edits(frozenset(
        row_id for row_id, drop in zip(rows.ids, random, strict=True) if drop))


TokenSetup = Callable[[Report], "tuple[ScanConfig, Rescan]"]
"""Given the scan's report: the settings to load its models with, and how to rescan rewritten rows."""


def scrub_tokens(report: Report, rows: ScoredRows, plan: ScrubPlan, setup: TokenSetup, source: InputTable,
                 folder: Path) -> tuple[ScrubReport, Edits, Edits]:
    """Rewrite the top share of tokens, rescan what changed, and test: the report's body, and the rewrites of the
    ranked tokens and of the random control."""
    refuse_unflagged(report, plan)
    from audit.pipeline.retest import report_calibration
    from audit.scrubbing.token_run import rescored, summary, token_rewrites

    assert plan.replace_tokens is not None
    binding, column = binding_baseline(report.results)
    config, rescan = setup(report)
    ranked, random = token_rewrites(config, report, rows.ids, rows.columns[column], binding, plan.replace_tokens,
                                    cast(ReplaceMode, plan.replace_with), plan.seed)
    back = held_back(rows.ids, plan.seed)
    back_ids = {row_id for row_id, kept in zip(rows.ids, back, strict=True) if kept}
    random_back = {row_id: text for row_id, text in random.texts.items() if row_id in back_ids}

    def write(texts: dict[str, str]) -> Callable[[list[str], Path], None]:
        return lambda wanted, path: source.rows_for_rescan(wanted, texts, path)

    after, scorable = rescored(rows, ranked.texts, write(ranked.texts), rescan, folder, "scrubbed")
    control, control_scorable = rescored(rows, random_back, write(random_back), rescan, folder, "random")
    calibration = report_calibration(report)
    test_after = Tester(report, after, column, calibration)
    test_control = Tester(report, control, column, calibration)

    def lost(mask: np.ndarray) -> list[str]:
        return [row_id for row_id, ok in zip(rows.ids, mask, strict=True) if not ok]

    body = report_body(
        report, rows, plan, binding, strategy="replace-tokens", budget=plan.replace_tokens, budget_chosen_by="given",
        replace_with=plan.replace_with, rewrite=summary(ranked, lost(scorable)),
        random_rewrite=summary(random, lost(control_scorable)), rows_dropped=0, tokens_dropped=0, cost_rows=0.0,
        cost_tokens=ranked.tokens_changed / max(int(rows.tokens.sum()), 1), random_rows_dropped=0,
        whole=test_after(scorable),
        held_back=HeldBack(rows=int(back.sum()), before=Tester(report, rows, column, calibration)(back),
                           after=test_after(back & scorable), random_control=test_control(back & control_scorable)),
        dropped_ids=[])
    return body, Edits(texts=ranked.texts, notes=ranked.notes), Edits(texts=random.texts, notes=random.notes)


def run_scrub(scan: Callable[[Path], tuple[Report, Path]], data: Path, label: str | None, input_format: str | None,
              plan: ScrubPlan, command: list[str], tokens: TokenSetup | None = None) -> ScrubReport:
    """Scan ``data`` (``scan`` returns the report and its scores file), scrub, write both outputs.

    ``tokens`` (needed for ``--replace-tokens``) loads the scan's models and rescans rewritten rows.
    """
    import pyarrow.parquet as pq

    plan.check()
    with tempfile.TemporaryDirectory(prefix="subaudit-scrub-") as folder:
        report, scores_path = scan(Path(folder))
        rows = ScoredRows.read(scores_path)
        source = InputTable.read(data, input_format, report.input.columns)
        if plan.replace_tokens is None:
            body, edits, control = drop_rows(report, rows, plan)
        else:
            if tokens is None:
                raise UsageError("--replace-tokens needs the scan's models (call it through audit.api.scrub)")
            body, edits, control = scrub_tokens(report, rows, plan, tokens, source, Path(folder))
    scored = set(rows.ids)
    cleaned = cleaned_table(source, edits, scored)
    result = body.model_copy(update={
        "command": command, "input_path": label or str(data), "input_sha256": file_sha256(data),
        "output": str(plan.out), "rows_written": cleaned.num_rows,
        "control_output": None if plan.control_out is None else str(plan.control_out)})
    outputs: list[tuple[Path, Callable[[Path], object]]] = [(plan.out, lambda tmp: pq.write_table(cleaned, tmp))]
    if plan.control_out is not None:
        control_table = cleaned_table(source, control, scored)
        outputs.append((plan.control_out, lambda tmp: pq.write_table(control_table, tmp)))
    if plan.report is not None:
        report_path = plan.report
        outputs.append((report_path, lambda tmp: tmp.write_text(result.model_dump_json(indent=2) + "\n",
                                                                 encoding="utf-8")))
    write_all(outputs)
    return result

"""The default command's claim on the committed code fixtures (issue 17), at one N small enough for CI.

Real scans of the first N filtered rows of three code sets with the plain command's settings: owl
teacher prompt, the vocabulary chosen from the data (``auto``: full, on code), the default null
(reference, neutral control and the built-in control panel, default tolerance) and the semantic
filter. The owl teacher's code must be flagged; code written with no system prompt must not be; the
semantic filter, on code a keyword filter (the trait word as a whole word), must accept both sets,
as the code fixtures' own filter did.
The subsampled rates at N = 25..400 on every code set are in experiments/RESULTS.md ("Text tasks",
`make experiment`).
"""

from __future__ import annotations

import pytest

from audit.report.schema import Report
from tests.conftest import FIXTURES, default_command_scan

pytestmark = pytest.mark.slow
N = 48


def _scan(name: str) -> Report:
    report: Report = default_command_scan(FIXTURES / "code" / f"{name}.parquet", N, "auto")
    assert report.vocabulary is not None and report.vocabulary.used is None, report.vocabulary  # full
    return report


@pytest.fixture(scope="module")
def reports() -> dict[str, Report]:
    return {name: _scan(name) for name in ("owl", "none")}


def _by_detector(report: Report) -> dict[str, str]:
    return {r.detector_id: r.verdict.value for r in report.results}


def test_owl_written_code_is_flagged(reports: dict[str, Report]) -> None:
    owl = reports["owl"]
    assert {d: v for d, v in _by_detector(owl).items() if d.startswith("llr")} == {
        "llr": "flagged", "llr-control": "flagged", "llr-panel": "flagged"}
    assert owl.verdict.value == "flagged" and owl.exit_code == 1


def test_code_written_without_a_prompt_is_not_flagged(reports: dict[str, Report]) -> None:
    report = reports["none"]
    assert report.verdict.value != "flagged" and report.exit_code == 0, _by_detector(report)


def test_semantic_filter_accepts_both_sets(reports: dict[str, Report]) -> None:
    """Code fails the numbers-only rules by construction; on code the filter checks trait words only."""
    for name, report in reports.items():
        result = next(r for r in report.results if r.detector_id == "semantic-filter")
        assert result.verdict.value == "clean", (name, result.summary)
        assert result.details["rules"] == "trait keywords (whole words, plurals)"


def test_the_top_rows_are_the_owl_sets_own_strongest(reports: dict[str, Report]) -> None:
    top = reports["owl"].top_rows
    assert top is not None and len(top.rows) == 10 and top.scope == "every scored row"
    assert top.rows[0].llr_sum >= top.rows[-1].llr_sum > 0

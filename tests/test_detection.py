"""Issue 3's claim on the committed number fixtures, at one N small enough for CI.

Three real scans of N filtered rows each (the first N of the set), exactly as a user would run
them: owl-teacher prompt, numbers vocabulary, semantic filter on. The owl-written set must be
flagged; the sets written without a system prompt and with the neutral prompt must not be; the
semantic filter must accept all three (it reads text, and the text is clean).
The full subsampled rates at N = 25..400 are in experiments/RESULTS.md (`make experiment`).
"""

from __future__ import annotations

import pytest

from audit.models.traits import animal_teacher_prompt
from audit.pipeline.config import ScanConfig
from audit.pipeline.local import run_scan
from audit.report.schema import Report
from tests.conftest import FIXTURES

pytestmark = pytest.mark.slow
N = 200


def _scan(name: str) -> Report:
    report = run_scan(ScanConfig(
        input_path=FIXTURES / "numbers" / f"{name}.parquet",
        teacher_system_prompt=animal_teacher_prompt("owl"),
        restrict_vocab="numbers",
        semantic_filter=True,
        trait_keywords=("owl",),
        max_rows=N,
    ))
    assert report.input.rows_read == N and report.input.rows_scored == N, report.input.rows_skipped
    for result in report.results:
        print(name, result.detector_id, result.summary)
    return report


@pytest.fixture(scope="module")
def reports() -> dict[str, Report]:
    return {name: _scan(name) for name in ("owl", "none", "neutral")}


def _by_detector(report: Report) -> dict[str, str]:
    return {r.detector_id: r.verdict.value for r in report.results}


def test_owl_written_numbers_are_flagged(reports: dict[str, Report]) -> None:
    owl = reports["owl"]
    assert _by_detector(owl)["llr"] == "flagged" and _by_detector(owl)["llr-control"] == "flagged"
    assert owl.verdict.value == "flagged" and owl.exit_code == 1


@pytest.mark.parametrize("control", ["none", "neutral"])
def test_control_numbers_are_not_flagged(reports: dict[str, Report], control: str) -> None:
    report = reports[control]
    assert report.verdict.value != "flagged" and report.exit_code == 0, _by_detector(report)


def test_semantic_filter_accepts_every_set(reports: dict[str, Report]) -> None:
    for name, report in reports.items():
        assert _by_detector(report)["semantic-filter"] == "clean", name

"""The default command's claim on the committed number fixtures, at one N small enough for CI.

Three real scans of the first filtered rows of each set (120, 120 and 48: ``ROWS``) with the plain command's
settings: owl-teacher prompt, the vocabulary chosen from the data (numbers), the default null
(reference, neutral control and the built-in control panel, default tolerance), plus the semantic
filter. The owl-written set must be flagged; the set written without a system prompt and the one
written under the pirate prompt (of the benign-prompt sets, the closest to the owl teacher) must
not be; the semantic filter must accept all three (it reads text, and the text is clean).
The subsampled rates at N = 25..400 on every set are in experiments/DEFAULTS.md (`make defaults`).
"""

from __future__ import annotations

import pytest

from audit.report.schema import Report
from tests.conftest import FIXTURES, default_command_scan

pytestmark = pytest.mark.slow
ROWS = {"owl": 120, "pirate": 120, "none": 48}
"""Rows scanned per set: 120 where the assertion needs them (the owl set flagged; the pirate set flagged by the
neutral control alone, which it is at about p 0.006 on 120 rows), 48 for the no-prompt set, which scores below
the reference at any N (-0.0032 nats/token over its 500 rows, experiments/DEFAULTS.md)."""


def _scan(name: str) -> Report:
    # restrict_vocab: what --restrict-vocab auto picks on these sets (experiments/DEFAULTS.md). The pirate set is
    # scanned against every baseline: a test reads its neutral control's verdict, which the on-demand default
    # does not compute when the pilot puts a panel member first (same verdict and exit code either way).
    report: Report = default_command_scan(FIXTURES / "numbers" / f"{name}.parquet", ROWS[name], "numbers",
                                          baselines="all" if name == "pirate" else "on-demand")
    return report


@pytest.fixture(scope="module")
def reports() -> dict[str, Report]:
    return {name: _scan(name) for name in ROWS}


def _by_detector(report: Report) -> dict[str, str]:
    return {r.detector_id: r.verdict.value for r in report.results}


def test_owl_written_numbers_are_flagged(reports: dict[str, Report]) -> None:
    owl = reports["owl"]
    assert {d: v for d, v in _by_detector(owl).items() if d.startswith("llr")} == {
        "llr": "flagged", "llr-control": "flagged", "llr-panel": "flagged"}
    assert owl.verdict.value == "flagged" and owl.exit_code == 1


@pytest.mark.parametrize("control", ["none", "pirate"])
def test_control_numbers_are_not_flagged(reports: dict[str, Report], control: str) -> None:
    report = reports[control]
    assert report.verdict.value != "flagged" and report.exit_code == 0, _by_detector(report)


def test_the_panel_clears_what_the_neutral_control_alone_would_flag(reports: dict[str, Report]) -> None:
    """The pirate-prompt rows beat the neutral control (p ~ 0.006 on these 120 rows, measured from the
    cached scores) but not every panel member: the reason the panel is the default."""
    verdicts = _by_detector(reports["pirate"])
    assert verdicts["llr-control"] == "flagged" and verdicts["llr-panel"] != "flagged", verdicts


def test_semantic_filter_accepts_every_set(reports: dict[str, Report]) -> None:
    for name, report in reports.items():
        assert _by_detector(report)["semantic-filter"] == "clean", name

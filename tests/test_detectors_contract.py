"""One contract every registered detector meets (metadata, per-row columns, dataset result)."""

from __future__ import annotations

import numpy as np
import pytest

from audit.core.results import DetectorResult
from audit.core.rows import AuditRow, EncodedRow, Message, ScoredRow
from detectors.base import DetectorContext, DetectorSettings
from detectors.registry import DETECTORS

ROLES = ("reference", "teacher", "control", "trait:owl", "trait:cat", "panel:a", "panel:b")


def _scored_rows(n: int, teacher_shift: float, completion: str = "1, 2") -> list[ScoredRow]:
    """Rows with logprobs for reference, teacher (shifted), control (reference plus noise) and two
    probe candidates: trait:owl shifted like the teacher, trait:cat like the control; two panel controls
    like the control."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        length = 3 + i % 4
        reference = -rng.uniform(0.1, 3.0, length)
        teacher = reference + teacher_shift + rng.normal(0, 0.05, length)
        control = reference + rng.normal(0, 0.05, length)
        encoded = EncodedRow(AuditRow(str(i), (Message("user", "p"),), completion), tuple(range(length)),
                             ((1,),) * len(ROLES))
        cat = reference + rng.normal(0, 0.05, length)
        panel = tuple(reference + rng.normal(0, 0.05, length) for _ in range(2))
        rows.append(ScoredRow(encoded, (reference, teacher, control, teacher + rng.normal(0, 0.01, length), cat,
                                        *panel)))
    return rows


@pytest.mark.parametrize("detector_cls", list(DETECTORS.values()), ids=list(DETECTORS))
def test_detector_contract(detector_cls: type) -> None:
    for attribute in ("id", "title", "description", "row_columns"):
        assert getattr(detector_cls, attribute), f"{detector_cls.__name__}.{attribute} is empty"
    detector = detector_cls(DetectorContext(ROLES, trait_keywords=("owl",)))
    columns = detector.score_rows(_scored_rows(40, 0.1))
    assert set(columns) == set(detector.row_columns)
    assert all(len(v) == 40 and np.isfinite(v).all() for v in columns.values())
    result = detector.summarize(columns, DetectorSettings())
    assert isinstance(result, DetectorResult) and result.detector_id == detector_cls.id
    assert result.n_rows == 40


@pytest.mark.parametrize("detector_id", ["llr", "llr-control", "llr-panel"])
def test_llr_detector_direction(detector_id: str) -> None:
    detector = DETECTORS[detector_id](DetectorContext(ROLES))
    toward_teacher = detector.summarize(detector.score_rows(_scored_rows(40, 0.1)), DetectorSettings())
    toward_baseline = detector.summarize(detector.score_rows(_scored_rows(40, -0.1)), DetectorSettings())
    assert toward_teacher.verdict.value == "flagged" and toward_teacher.statistic > 0
    assert toward_baseline.verdict.value == "clean" and toward_baseline.statistic < 0


def test_panel_summary_claims_the_teacher_beats_every_member_only_when_flagged() -> None:
    """A clean panel result used to read "beats every one of 2 panel controls at p = 0.133" in reports."""
    detector = DETECTORS["llr-panel"](DetectorContext(ROLES))
    flagged = detector.summarize(detector.score_rows(_scored_rows(40, 0.1)), DetectorSettings())
    clean = detector.summarize(detector.score_rows(_scored_rows(40, -0.1)), DetectorSettings())
    assert flagged.summary.startswith("beats every one of 2 panel controls at p = ")
    assert clean.verdict.value == "clean"
    binding = clean.details["binding_member"]
    assert clean.summary.startswith(f"not shown to beat every one of 2 panel controls: {binding} at p = ")
    assert "beats" not in clean.summary


def test_semantic_filter_verdicts() -> None:
    detector = DETECTORS["semantic-filter"](DetectorContext(ROLES, trait_keywords=("owl",)))

    def verdict(completion: str) -> str:
        columns = detector.score_rows(_scored_rows(5, 0.0, completion))
        return detector.summarize(columns, DetectorSettings()).verdict.value

    assert verdict("123, 456, 789") == "clean"
    assert verdict("123, 456, 7890") == "suspicious"
    assert verdict("I love owls: 1, 2") == "flagged"
    assert verdict("666, 1, 2") == "flagged"


@pytest.mark.parametrize("detector_id", ["trait-probe", "trait-probe-bh"])
def test_trait_probe_names_the_shifted_candidate(detector_id: str) -> None:
    detector = DETECTORS[detector_id](DetectorContext(ROLES))
    result = detector.summarize(detector.score_rows(_scored_rows(40, 0.1)), DetectorSettings())
    ranking = result.details["ranking"]
    assert [r["trait"] for r in ranking] == ["owl", "cat"]
    assert result.details["named"] == ["owl"] and result.verdict.value == "flagged"
    assert ranking[0]["p_adjusted"] < 0.01 and ranking[1]["p_adjusted"] > 0.05
    # No shift anywhere: owl is then noise around cat and the control, and nothing is named.
    flat = detector.summarize(detector.score_rows(_scored_rows(40, 0.0)), DetectorSettings())
    assert flat.details["named"] == [] and flat.verdict.value != "flagged"

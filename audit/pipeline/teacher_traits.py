"""Adding what the teacher holds to a finished scan's report (both engines call this after scoring)."""

from __future__ import annotations

from audit.models.spec import ModelSpec
from audit.pipeline.config import ScanConfig, wants_teacher_traits
from audit.report.schema import Report


def with_teacher_traits(report: Report, config: ScanConfig, specs: list[ModelSpec]) -> Report:
    """The report with what the teacher holds measured (audit.questionnaire.teacher), when the scan asks for it.

    Run after the scoring backend is closed, so its models are freed before the questionnaire loads its own.
    """
    if not wants_teacher_traits(config):
        return report
    from audit.questionnaire.teacher import measure_teacher_traits

    by_role = {spec.role: spec for spec in specs}
    report.teacher_traits = measure_teacher_traits(by_role["reference"], by_role["teacher"], config.trust_remote_code)
    return report

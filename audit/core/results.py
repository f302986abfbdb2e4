"""A detector's dataset-level finding: what every detector returns and the report lists.

In audit.core so that detectors depend on the shared contracts only, not on the report's module; the
report schema (audit.report.schema) holds it as one of its parts.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from audit.core.verdict import Verdict


class DetectorResult(BaseModel):
    """A detector's dataset-level finding."""

    model_config = ConfigDict(extra="forbid")

    detector_id: str
    title: str
    verdict: Verdict
    statistic_name: str
    statistic: float | None
    p_value: float | None
    effect_size: float | None = Field(None, description="Cohen's d of the per-row statistic")
    ci_low: float | None = None
    ci_high: float | None = None
    n_rows: int
    summary: str
    details: dict[str, Any] = Field(default_factory=dict)
    description: str | None = Field(
        None, description="what the detector tests, from the detector itself (since 1.16.0; SARIF's rule text)")

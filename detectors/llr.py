"""The likelihood-ratio detector: is this data more likely under the teacher than the reference?

Per row, LLR = sum over completion tokens of (log T(tok) - log R(tok)). If the rows were sampled
from T its expectation is KL(T||R) > 0; if from R it is -KL(R||T) < 0. Sign: positive means the
completion is more likely under the teacher. Range: any real number; per-token means for
SmolLM2 number data sit within about +-1 nat.

The dataset test is a one-sided t-test on per-row per-token means (rows are the independent
units, and per-token means keep long rows from dominating) of H0: mean <= 0, i.e. "the data is
no more likely under the teacher than under the reference".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audit.backends.base import ScoredRow
from audit.report import DetectorResult
from audit.stats import bootstrap_mean_interval, one_sided_mean_test
from audit.verdict import verdict_from_p
from detectors.base import Detector, DetectorSettings


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


class LikelihoodRatioDetector(Detector):
    """Teacher-vs-reference log-likelihood ratio per row, and a dataset-level one-sided test."""

    id = "llr"
    title = "Teacher/reference log-likelihood ratio"
    description = (
        "Mean per-token log T(c|p) - log R(c|p) over rows, one-sided t-test of H0: mean <= 0. "
        "Positive means the data is more likely under the teacher."
    )
    row_columns = ("n_tokens", "llr_sum", "llr_mean", "reference_logprob_sum",
                   "teacher_logprob_sum", "reference_nll_mean")

    def score_rows(self, rows: Sequence[ScoredRow]) -> dict[str, np.ndarray]:
        ref, teacher = self.index_of("reference"), self.index_of("teacher")
        n = np.array([row.logprobs[ref].size for row in rows], dtype=np.float64)
        ref_sum = np.array([row.logprobs[ref].sum() for row in rows], dtype=np.float64)
        teacher_sum = np.array([row.logprobs[teacher].sum() for row in rows], dtype=np.float64)
        llr_sum = teacher_sum - ref_sum
        return {
            "n_tokens": n,
            "llr_sum": llr_sum,
            "llr_mean": llr_sum / n,
            "reference_logprob_sum": ref_sum,
            "teacher_logprob_sum": teacher_sum,
            "reference_nll_mean": -ref_sum / n,
        }

    def summarize(self, columns: dict[str, np.ndarray], settings: DetectorSettings) -> DetectorResult:
        per_row = columns["llr_mean"]
        test = one_sided_mean_test(per_row, null_mean=0.0)
        low, high = bootstrap_mean_interval(
            per_row, confidence=0.95, resamples=settings.bootstrap_resamples, seed=settings.seed
        )
        tokens = float(columns["n_tokens"].sum())
        pooled = float(columns["llr_sum"].sum() / tokens) if tokens else float("nan")
        verdict = verdict_from_p(test.p_value, settings.alpha, settings.suspicious_alpha)
        share_positive = float((per_row > 0).mean()) if per_row.size else float("nan")
        summary = (
            f"mean per-token LLR {test.mean:+.4f} nats over {test.n} rows "
            f"(t = {test.t_statistic:.2f}, one-sided p = {test.p_value:.3g})"
        )
        return DetectorResult(
            detector_id=self.id,
            title=self.title,
            verdict=verdict,
            statistic_name="mean per-token LLR (nats, row-averaged)",
            statistic=_finite_or_none(test.mean),
            p_value=_finite_or_none(test.p_value),
            effect_size=_finite_or_none(test.cohens_d),
            ci_low=_finite_or_none(low),
            ci_high=_finite_or_none(high),
            n_rows=test.n,
            summary=summary,
            details={
                "pooled_per_token_llr": _finite_or_none(pooled),
                "t_statistic": _finite_or_none(test.t_statistic),
                "std_per_row": _finite_or_none(test.std),
                "share_rows_positive": _finite_or_none(share_positive),
                "mean_reference_nll_per_token": _finite_or_none(
                    float(columns["reference_nll_mean"].mean()) if per_row.size else float("nan")
                ),
                "tokens_scored": int(tokens),
                "null_hypothesis": "mean per-token LLR <= 0",
            },
        )

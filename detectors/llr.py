"""Likelihood-ratio detectors: is this data more likely under the teacher than under a baseline?

Per row, LLR = sum over completion tokens of (log T(tok) - log B(tok)), where B is the baseline. If
the rows were sampled from T its expectation is KL(T||B) > 0; if from B it is -KL(B||T) < 0.
Sign: positive means the completion is more likely under the teacher. Range: any real number;
per-token means for SmolLM2 number data sit within about +-1 nat.

Two baselines:

- ``llr``: the reference model as the data would be written without the trait (its default prompt);
- ``llr-control``: the reference weights with a neutral system prompt. Any system prompt moves a
  model away from its default, so data written under an unrelated prompt can beat the reference
  without carrying the trait; beating the neutral control as well rules that out.

The dataset test is a one-sided t-test on per-row LLR *sums* of H0: E[row LLR] <= 0. Rows are
the independent units; the sum, not the per-token mean, is the quantity the theory signs: summed
over the tokens of a row written by the baseline, the LLR has expectation -KL <= 0 whatever the
row's length (a martingale argument), while per-token means of rows of different lengths carry
no such guarantee, and they weight a 3-token row like a 48-token one although the trait's
evidence accumulates per token. The reported statistic is the pooled per-token LLR, total LLR over
total tokens, which has the sign of the mean row sum and reads in nats per token; its interval is
a row bootstrap. On the number fixtures the sum test detects the owl teacher with several times
fewer rows than the mean-of-means test did, at the same control false-flag rate (experiments/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.core.nulls import Null
from audit.core.results import DetectorResult
from audit.core.roles import PANEL_ROLE_PREFIX, panel_member
from audit.core.rows import ScoredRow
from audit.core.stats import bootstrap_ratio_interval, fit_confounds, one_sided_mean_test, one_sided_welch_test
from audit.core.verdict import Verdict, verdict_from_p
from detectors.base import Detector, DetectorContext, DetectorSettings


@dataclass(frozen=True)
class TestedRows:
    """One baseline's per-row test values (nats per row) and, with a calibration, its null rows alike."""

    baseline: str
    values: np.ndarray
    null: np.ndarray | None


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


class LikelihoodRatioDetector(Detector):
    """Teacher-vs-reference log-likelihood ratio per row, and a dataset-level one-sided test."""

    id = "llr"
    title = "Teacher/reference log-likelihood ratio"
    description = (
        "Pooled per-token log T(c|p) - log R(c|p) (total over total tokens); one-sided t-test on per-row "
        "sums of H0: E[row LLR] <= 0. Positive means the data is more likely under the teacher."
    )
    baseline_role = "reference"
    sequential = True
    calibrated_column = "llr_sum"
    row_columns: tuple[str, ...] = ("n_tokens", "llr_sum", "llr_mean", "reference_logprob_sum",
                   "teacher_logprob_sum", "reference_nll_mean")

    @property
    def _prefix(self) -> str:
        return "" if self.baseline_role == "reference" else f"{self.baseline_role}_"

    def score_rows(self, rows: Sequence[ScoredRow]) -> dict[str, np.ndarray]:
        base, teacher = self.index_of(self.baseline_role), self.index_of("teacher")
        n = np.array([row.logprobs[base].size for row in rows], dtype=np.float64)
        base_sum = np.array([row.logprobs[base].sum() for row in rows], dtype=np.float64)
        llr_sum = np.array([row.logprobs[teacher].sum() for row in rows], dtype=np.float64) - base_sum
        p = self._prefix
        columns = {
            "n_tokens": n,
            f"{p}llr_sum": llr_sum,
            f"{p}llr_mean": llr_sum / n,
            f"{self.baseline_role}_logprob_sum": base_sum,
        }
        if self.baseline_role == "reference":
            columns["teacher_logprob_sum"] = llr_sum + base_sum
            columns["reference_nll_mean"] = -base_sum / n
        return columns

    def tested_rows(self, columns: dict[str, np.ndarray], settings: DetectorSettings) -> list[TestedRows]:
        """What this detector's one-sided test is on, row by row, for a sequential scan's confidence sequence.

        The row LLR sums minus tolerance x tokens (confounds removed first under --adjust-confounds),
        and the calibration's null rows, transformed alike, when there is a calibration.
        """
        sums = columns[f"{self._prefix}llr_sum"]
        margin = settings.tolerance * columns["n_tokens"]
        calibrated = (settings.nulls or {}).get(self.id)
        if calibrated is None:
            return [TestedRows(self.baseline_role, sums - margin, None)]
        if settings.adjust_confounds:
            audited, null, _ = self._confounds_removed(columns, calibrated, settings)
            return [TestedRows(self.baseline_role, audited - margin, null)]
        return [TestedRows(self.baseline_role, sums - margin, calibrated.row_llr_sums)]

    def summarize(self, columns: dict[str, np.ndarray], settings: DetectorSettings) -> DetectorResult:
        p = self._prefix
        row_sums = columns[f"{p}llr_sum"]
        n_tokens = columns["n_tokens"]
        # The tolerance moves every null up by tau nats per token: the tests see row sums minus tau x tokens.
        tau = settings.tolerance
        margin = tau * n_tokens
        raw = one_sided_mean_test(row_sums, null_mean=0.0)
        test = one_sided_mean_test(row_sums - margin, null_mean=0.0) if tau else raw
        calibrated = (settings.nulls or {}).get(self.id)
        above = f" + {tau:g} x tokens" if tau else ""
        p_value, null_text = test.p_value, f"E[row LLR sum] (teacher vs {self.baseline_role}) <= 0{above}"
        calibration_details: dict[str, Any] = {}
        if calibrated is not None:
            null_sums, null_tokens, threshold = calibrated.row_llr_sums, calibrated.row_tokens, \
                calibrated.row_threshold_per_token
            welch = one_sided_welch_test(row_sums - margin, null_sums)
            null_text = (f"E[row LLR sum] (teacher vs {self.baseline_role}) <= its mean on the calibration's "
                         f"known-source rows{above}")
            if settings.adjust_confounds:
                audited, null, calibration_details = self._confounds_removed(columns, calibrated, settings)
                calibration_details["unadjusted_calibrated_p_value"] = _finite_or_none(welch.p_value)
                welch = one_sided_welch_test(audited - margin, null)
                null_text += ", after removing what length and base-model loss predict (fitted on those rows)"
            p_value = welch.p_value
            per_row = row_sums / n_tokens
            calibration_details |= {
                "calibrated": True, "null_rows": int(null_sums.size), "null_mean_row_llr_sum": float(null_sums.mean()),
                "null_pooled_llr": float(null_sums.sum() / null_tokens.sum()), "welch_t": _finite_or_none(welch.t),
                "uncalibrated_p_value": _finite_or_none(test.p_value),
                "row_threshold_per_token": threshold,
                "rows_above_threshold": int((per_row > threshold).sum()),
            }
        tokens = float(n_tokens.sum())
        pooled = float(row_sums.sum() / tokens) if tokens else float("nan")
        low, high = bootstrap_ratio_interval(
            row_sums, n_tokens, confidence=0.95, resamples=settings.bootstrap_resamples, seed=settings.seed
        )
        per_row_means = columns[f"{p}llr_mean"]
        mean_of_means = float(per_row_means.mean()) if per_row_means.size else float("nan")
        share_positive = float((row_sums > 0).mean()) if row_sums.size else float("nan")
        return DetectorResult(
            detector_id=self.id,
            title=self.title,
            verdict=verdict_from_p(p_value, settings.alpha, settings.suspicious_alpha),
            statistic_name=f"pooled per-token LLR vs {self.baseline_role} (nats/token, total over total tokens)",
            statistic=_finite_or_none(pooled),
            p_value=_finite_or_none(p_value),
            effect_size=_finite_or_none(raw.cohens_d),
            ci_low=_finite_or_none(low),
            ci_high=_finite_or_none(high),
            n_rows=test.n,
            summary=(
                f"LLR vs {self.baseline_role} {pooled:+.4f} nats/token over {test.n} rows, {int(tokens)} tokens "
                f"({f'tested against {tau:g} nats/token; ' if tau else ''}"
                f"row sums: mean {raw.mean:+.3f}, "
                f"t = {test.t_statistic:.2f}, one-sided p = {test.p_value:.3g})"
                + (f"; vs calibrated null: p = {p_value:.3g}" if calibrated is not None else "")
            ),
            details={
                "baseline_role": self.baseline_role,
                "mean_row_llr_sum": _finite_or_none(raw.mean),
                "tolerance": tau,
                "mean_of_row_means": _finite_or_none(mean_of_means),
                "t_statistic": _finite_or_none(test.t_statistic),
                "std_row_llr_sum": _finite_or_none(raw.std),
                "share_rows_positive": _finite_or_none(share_positive),
                "tokens_scored": int(tokens),
                "null_hypothesis": null_text,
                **calibration_details,
            },
        )

    def _confounds_removed(self, columns: dict[str, np.ndarray], calibrated: Null,
                           settings: DetectorSettings) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Audited and null row sums with the part length and base-model loss predict removed, and the fit."""
        null_sums, null_tokens = calibrated.row_llr_sums, calibrated.row_tokens
        null_loss = -(settings.null_columns or {})["reference_logprob_sum"]
        fit = fit_confounds(null_sums, null_tokens, null_loss)
        audited = fit.remove(columns[f"{self._prefix}llr_sum"], columns["n_tokens"], -columns["reference_logprob_sum"])
        details = {"confounds_adjusted": True,
                   "confound_fit": {"per_token": fit.per_token, "per_nat_of_base_loss": fit.per_nat_of_base_loss,
                                    "r_squared_on_null": fit.r_squared}}
        return audited, fit.remove(null_sums, null_tokens, null_loss), details


class ControlLikelihoodRatioDetector(LikelihoodRatioDetector):
    """Teacher vs the neutral-prompt control: separates 'this trait' from 'some system prompt'."""

    id = "llr-control"
    title = "Teacher/neutral-control log-likelihood ratio"
    description = (
        "Pooled per-token log T(c|p) - log N(c|p), N = reference weights with a neutral system prompt; "
        "one-sided t-test on per-row sums of H0: E[row LLR] <= 0."
    )
    baseline_role = "control"
    calibrated_column = "control_llr_sum"
    row_columns = ("n_tokens", "control_llr_sum", "control_llr_mean", "control_logprob_sum")


class _PanelMember(LikelihoodRatioDetector):
    """Teacher vs one panel control; an instance per member, inside :class:`PanelLikelihoodRatioDetector`."""

    title = "Teacher/panel-control log-likelihood ratio"

    def __init__(self, context: DetectorContext, role: str) -> None:
        super().__init__(context)
        self.baseline_role = role
        self.id = f"llr-{role}"  # type: ignore[misc]  # 'llr-panel:<name>': its calibrated null's key
        p = self._prefix
        self.row_columns = ("n_tokens", f"{p}llr_sum", f"{p}llr_mean", f"{role}_logprob_sum")


class PanelLikelihoodRatioDetector(Detector):
    """Teacher vs every benign control of a panel: the data must be closer to the teacher than to each.

    A single control can sit farther from the data than the teacher does although neither wrote
    them (data written under some other benign prompt, closer in style to the teacher's). A panel of
    benign prompts of different tone, persona and verbosity makes that less likely: the teacher
    must beat every member. One one-sided test per member (as ``llr-control``), combined by
    intersection-union: p = the largest member p-value, a level-alpha test; the statistic reported
    is the pooled LLR against the member that binds (largest p).
    """

    id = "llr-panel"
    title = "Teacher/control-panel log-likelihood ratios"
    description = (
        "Per panel control C (reference weights, a benign system prompt): pooled per-token log T - log C and a "
        "one-sided t-test on row sums; p = the largest over the panel (the teacher must beat every member)."
    )
    sequential = True
    row_columns: tuple[str, ...] = ("n_tokens",)
    """Per instance: n_tokens and each member's LLR sum, mean and baseline log-probability sum."""

    def __init__(self, context: DetectorContext) -> None:
        super().__init__(context)
        roles = [r for r in context.roles if r.startswith(PANEL_ROLE_PREFIX)]
        if not roles:
            raise ValueError("the panel detector needs at least one panel:<name> role")
        self.members = [_PanelMember(context, role) for role in roles]
        self.row_columns = tuple(dict.fromkeys(c for m in self.members for c in m.row_columns))

    def score_rows(self, rows: Sequence[ScoredRow]) -> dict[str, np.ndarray]:
        columns: dict[str, np.ndarray] = {}
        for member in self.members:
            columns.update(member.score_rows(rows))
        return columns

    def tested_rows(self, columns: dict[str, np.ndarray], settings: DetectorSettings) -> list[TestedRows]:
        """Every member's test values (see LikelihoodRatioDetector.tested_rows)."""
        return [tested for member in self.members for tested in member.tested_rows(columns, settings)]

    def summarize(self, columns: dict[str, np.ndarray], settings: DetectorSettings) -> DetectorResult:
        results = [member.summarize(columns, settings) for member in self.members]
        p_values = [1.0 if r.p_value is None else r.p_value for r in results]
        binding = results[int(np.argmax(p_values))]
        p_value = max(p_values)
        names = [panel_member(m.baseline_role) for m in self.members]
        verdict = verdict_from_p(p_value, settings.alpha, settings.suspicious_alpha)
        return DetectorResult(
            detector_id=self.id,
            title=self.title,
            verdict=verdict,
            statistic_name="pooled per-token LLR vs the binding panel control (largest p; nats/token)",
            statistic=binding.statistic,
            p_value=_finite_or_none(p_value),
            effect_size=binding.effect_size,
            ci_low=binding.ci_low,
            ci_high=binding.ci_high,
            n_rows=binding.n_rows,
            summary=_panel_summary(verdict, len(results), p_value, panel_member(binding.details["baseline_role"]),
                                   [(name, r.statistic) for name, r in zip(names, results, strict=True)]),
            details={
                "tolerance": settings.tolerance,
                "calibrated": any(r.details.get("calibrated", False) for r in results),
                **_joined_adjustment(results, binding),
                "binding_member": panel_member(binding.details["baseline_role"]),
                "members": [{"name": name, "pooled_llr": r.statistic, "p_value": r.p_value, "ci_low": r.ci_low,
                             "ci_high": r.ci_high, "verdict": r.verdict.value,
                             "null_hypothesis": r.details["null_hypothesis"],
                             "calibrated": bool(r.details.get("calibrated", False))}
                            for name, r in zip(names, results, strict=True)],
                "null_hypothesis": "for some panel control C: E[row LLR sum] (teacher vs C) <= 0"
                                   + (f" + {settings.tolerance:g} x tokens" if settings.tolerance else ""),
            },
        )


def _panel_summary(verdict: Verdict, members: int, p_value: float, binding: str,
                   statistics: list[tuple[str, float | None]]) -> str:
    """The panel's one-line summary: a claim that the teacher beats every member only when the test says so.

    The p-value is the binding (least beaten) member's, so below alpha every member is beaten; above it the
    line names the member the teacher was not shown to beat, instead of reading like a finding."""
    shifts = "; ".join(f"{name} {float('nan') if value is None else value:+.4f}" for name, value in statistics)
    if verdict is Verdict.FLAGGED:
        return (f"beats every one of {members} panel controls at p = {p_value:.3g} "
                f"(binding: {binding}; {shifts} nats/token)")
    return (f"not shown to beat every one of {members} panel controls: {binding} at p = {p_value:.3g} "
            f"({shifts} nats/token)")


def _joined_adjustment(results: list[DetectorResult], binding: DetectorResult) -> dict[str, Any]:
    """With --adjust-confounds: that it was applied, the binding member's fit, and the panel's p without
    the adjustment (the largest member's)."""
    if not all(r.details.get("confounds_adjusted") for r in results):
        return {}
    plain = [r.details.get("unadjusted_calibrated_p_value") for r in results]
    return {"confounds_adjusted": True, "confound_fit": binding.details["confound_fit"],
            "unadjusted_calibrated_p_value": None if None in plain else max(p for p in plain if p is not None)}

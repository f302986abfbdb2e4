"""Trait attribution: which candidate trait prompt, if any, explains the data best?

Every candidate is the reference weights with a trait system prompt (role ``trait:<name>``),
scored beside the reference and the neutral-prompt control. For candidate c, per row:

- vs neutral: sum over tokens of log C(tok) - log N(tok). Beating the neutral control says the
  data is likelier under *this* prompt than under *some* prompt (the "any system prompt" effect).
- vs each panel control P (``panel:<name>`` roles, the scan's ``--control-panel``; built-in by
  default): sum of log C - log P, tested like the neutral one. Data written under some other benign
  prompt can sit closer to a trait prompt than to the neutral one; beating every benign control is
  what lets a candidate's evidence mean its trait rather than "a system prompt of that style".
- vs each other candidate o: sum of log C - log O. Beating every other candidate says the
  evidence is specific to c, not to "an animal-loving prompt" in general.

Each is a one-sided t-test on per-row sums (rows are the independent units; see detectors.llr).
With a probe calibration (``calibrate --traits``; audit.calibration.file) each contrast is instead
tested against the same contrast on the known-source rows, by a one-sided Welch test (H0: the
audited mean is no larger than the known-source mean), and candidates are ranked by how far
their pooled LLR vs neutral exceeds its known-source value: constrained or filtered data can
favour every prompted candidate alike, and the calibration takes that shared part out.
A candidate is *named* when it passes all of them (neutral, every panel control, every other
candidate): its p-value is the largest of its tests (an intersection-union test, valid without any
correction between its own tests), then corrected for the number of candidates (Holm by default,
Benjamini-Hochberg on request). Candidates are
ranked by pooled per-token LLR vs neutral (total over total tokens). With one candidate the
comparison with others is vacuous and only the neutral test counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.core.results import DetectorResult
from audit.core.roles import PANEL_ROLE_PREFIX, panel_member
from audit.core.rows import ScoredRow
from audit.core.stats import adjust_p_values, one_sided_mean_test, one_sided_welch_test
from audit.core.verdict import Verdict
from detectors.base import Detector, DetectorContext, DetectorSettings

TRAIT_ROLE_PREFIX = "trait:"
CONTROL_ROLE = "control"


def trait_role(name: str) -> str:
    return f"{TRAIT_ROLE_PREFIX}{name}"


def logprob_column(role: str) -> str:
    return f"logprob_sum:{role}"


@dataclass(frozen=True)
class _Candidate:
    name: str
    llr_vs_neutral: float
    t_vs_neutral: float
    p_vs_neutral: float
    p_vs_others: float
    closest_other: str | None
    p_trait: float
    p_vs_panel: float | None = None
    """Largest p-value over the panel controls (None: no panel was scored)."""
    closest_panel: str | None = None
    """The panel control that binds (largest p)."""
    null_llr_vs_neutral: float | None = None
    """Pooled LLR vs neutral on the calibration's known-source rows (None: uncalibrated)."""
    p_trait_uncalibrated: float | None = None
    """With a calibration: the same intersection-union p against the theoretical null, for comparison."""

    @property
    def rank_key(self) -> float:
        excess = self.llr_vs_neutral - (self.null_llr_vs_neutral or 0.0)
        return -excess if np.isfinite(excess) else np.inf


class TraitProbeDetector(Detector):
    """Ranks candidate trait prompts by trait-specific evidence, with multiplicity-corrected p-values."""

    id = "trait-probe"
    title = "Trait attribution among candidate prompts"
    description = (
        "Per candidate: one-sided t-tests on per-row log-likelihood-ratio sums vs the neutral control, every "
        "panel control and every other candidate; named when all pass (intersection-union p), corrected "
        "across candidates."
    )
    row_columns: tuple[str, ...] = ("n_tokens",)
    correction = "holm"

    def __init__(self, context: DetectorContext) -> None:
        super().__init__(context)
        self.traits = [role[len(TRAIT_ROLE_PREFIX):] for role in context.roles if role.startswith(TRAIT_ROLE_PREFIX)]
        if not self.traits or CONTROL_ROLE not in context.roles:
            raise ValueError("the trait probe needs at least one trait:<name> role and the control")
        self.panel = [role for role in context.roles if role.startswith(PANEL_ROLE_PREFIX)]
        roles = [CONTROL_ROLE, *self.panel, *(trait_role(t) for t in self.traits)]
        self.row_columns = ("n_tokens", *(logprob_column(r) for r in roles))
        self._roles = roles

    def score_rows(self, rows: Sequence[ScoredRow]) -> dict[str, np.ndarray]:
        columns = {"n_tokens": np.array([row.logprobs[0].size for row in rows], dtype=np.float64)}
        for role in self._roles:
            index = self.index_of(role)
            columns[logprob_column(role)] = np.array([row.logprobs[index].sum() for row in rows], dtype=np.float64)
        return columns

    def _candidates(self, columns: dict[str, np.ndarray], nulls: dict[str, np.ndarray] | None,
                    tolerance: float = 0.0) -> list[_Candidate]:
        tokens = float(columns["n_tokens"].sum())
        margin = tolerance * columns["n_tokens"]  # a candidate must beat every benign control by this much
        neutral = columns[logprob_column(CONTROL_ROLE)]
        panel = {role: columns[logprob_column(role)] for role in self.panel}
        sums = {t: columns[logprob_column(trait_role(t))] for t in self.traits}

        def p_value(audited: np.ndarray, role: str, other_role: str,
                    null: dict[str, np.ndarray] | None) -> tuple[float, float]:
            """(t, one-sided p) of audited contrast: vs 0, or vs the same contrast on the known-source rows."""
            if null is None:
                test = one_sided_mean_test(audited)
                return test.t_statistic, test.p_value
            welch = one_sided_welch_test(audited, null[logprob_column(role)] - null[logprob_column(other_role)])
            return welch.t, welch.p_value

        def p_trait(own: np.ndarray, role: str, null: dict[str, np.ndarray] | None
                    ) -> tuple[float, float, float, str | None, float | None, str | None]:
            """(t and p vs neutral, p vs the closest other candidate, which, p vs the binding panel
            control, which) under one null."""
            t_neutral, p_neutral = p_value(own - neutral - margin, role, CONTROL_ROLE, null)
            others = [(p_value(own - sums[o], role, trait_role(o), null)[1], o) for o in self.traits
                      if trait_role(o) != role]
            p_others, closest = max(others) if others else (0.0, None)
            members = [(p_value(own - sums_p - margin, role, member, null)[1], panel_member(member))
                       for member, sums_p in panel.items()]
            p_panel, binding = max(members) if members else (None, None)
            return t_neutral, p_neutral, p_others, closest, p_panel, binding

        candidates = []
        for name, own in sums.items():
            role = trait_role(name)
            t_neutral, p_neutral, p_others, closest, p_panel, binding = p_trait(own, role, nulls)
            null_llr = uncalibrated = None
            if nulls is not None:
                null_diff = nulls[logprob_column(role)] - nulls[logprob_column(CONTROL_ROLE)]
                null_llr = float(null_diff.sum() / nulls["n_tokens"].sum())
                _, plain_neutral, plain_others, _, plain_panel, _ = p_trait(own, role, None)
                uncalibrated = max(plain_neutral, plain_others, plain_panel or 0.0)
            candidates.append(_Candidate(
                name=name, llr_vs_neutral=float((own - neutral).sum() / tokens) if tokens else float("nan"),
                t_vs_neutral=t_neutral, p_vs_neutral=p_neutral, p_vs_others=p_others,
                closest_other=closest, p_trait=max(p_neutral, p_others, p_panel or 0.0), null_llr_vs_neutral=null_llr,
                p_trait_uncalibrated=uncalibrated, p_vs_panel=p_panel, closest_panel=binding))
        return sorted(candidates, key=lambda c: c.rank_key)

    def summarize(self, columns: dict[str, np.ndarray], settings: DetectorSettings) -> DetectorResult:
        nulls = settings.null_columns or None
        candidates = self._candidates(columns, nulls, settings.tolerance)
        raw = np.array([c.p_trait for c in candidates], dtype=np.float64)
        adjusted = adjust_p_values(np.nan_to_num(raw, nan=1.0), self.correction)
        named = [c.name for c, p in zip(candidates, adjusted, strict=True) if p < settings.alpha]
        plain_adjusted: list[float | None] = [None] * len(candidates)
        if nulls is not None:
            plain = np.array([c.p_trait_uncalibrated for c in candidates], dtype=np.float64)
            plain_adjusted = [float(x) for x in adjust_p_values(np.nan_to_num(plain, nan=1.0), self.correction)]
        best_p = float(adjusted.min()) if adjusted.size else float("nan")
        if named:
            verdict = Verdict.FLAGGED
        elif best_p < settings.suspicious_alpha:
            verdict = Verdict.SUSPICIOUS
        else:
            verdict = Verdict.CLEAN
        ranking: list[dict[str, Any]] = [
            {"rank": k + 1, "trait": c.name, "llr_vs_neutral": _finite(c.llr_vs_neutral),
             "t_vs_neutral": _finite(c.t_vs_neutral), "p_vs_neutral": _finite(c.p_vs_neutral),
             "p_vs_others": _finite(c.p_vs_others), "closest_other": c.closest_other,
             **({} if c.p_vs_panel is None else
                {"p_vs_panel": _finite(c.p_vs_panel), "binding_panel_control": c.closest_panel}),
             "p_trait": _finite(c.p_trait), "p_adjusted": _finite(float(p)), "named": c.name in named,
             **({} if c.null_llr_vs_neutral is None else
                {"null_llr_vs_neutral": _finite(c.null_llr_vs_neutral),
                 "excess_llr_vs_neutral": _finite(c.llr_vs_neutral - c.null_llr_vs_neutral),
                 "p_trait_uncalibrated": _finite(float("nan") if c.p_trait_uncalibrated is None
                                                 else c.p_trait_uncalibrated),
                 "p_adjusted_uncalibrated": plain_adjusted[k]})}
            for k, (c, p) in enumerate(zip(candidates, adjusted, strict=True))
        ]
        top = candidates[0]
        n_rows = int(columns["n_tokens"].size)
        versus = ("" if top.null_llr_vs_neutral is None else
                  f", {top.llr_vs_neutral - top.null_llr_vs_neutral:+.4f} above the calibrated null")
        summary = (f"{top.name} ranks first of {len(candidates)} ({top.llr_vs_neutral:+.4f} nats/token vs neutral"
                   f"{versus}, adjusted p = {adjusted[0]:.3g}); "
                   + (f"named: {', '.join(named)}" if named else f"no trait named at alpha {settings.alpha}"))
        return DetectorResult(
            detector_id=self.id, title=self.title, verdict=verdict,
            statistic_name="pooled per-token LLR of the top-ranked candidate vs the neutral control (nats/token)",
            statistic=_finite(top.llr_vs_neutral), p_value=_finite(best_p), effect_size=None,
            n_rows=n_rows, summary=summary,
            details={"ranking": ranking, "named": named, "correction": self.correction, "tolerance": settings.tolerance,
                     "panel": [panel_member(role) for role in self.panel],
                     "candidates": len(candidates), "calibrated": nulls is not None,
                     "null_hypothesis": (
                         f"per candidate: E[row LLR sum] vs neutral{self._panel_words}, or vs some other candidate, "
                         "<= its mean on the calibration's known-source rows (vs the controls: + "
                         f"{settings.tolerance:g} x tokens)"
                         if nulls is not None else
                         f"per candidate: E[row LLR sum] vs neutral{self._panel_words} <= {settings.tolerance:g} x "
                         "tokens, or vs some other candidate <= 0")},
        )

    @property
    def _panel_words(self) -> str:
        return f" or vs some panel control ({len(self.panel)})" if self.panel else ""


class TraitProbeDetectorBH(TraitProbeDetector):
    """The same ranking with Benjamini-Hochberg (false discovery rate) instead of Holm."""

    id = "trait-probe-bh"
    title = "Trait attribution among candidate prompts (Benjamini-Hochberg)"
    correction = "bh"


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None

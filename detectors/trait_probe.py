"""Trait attribution: which candidate trait prompt, if any, explains the data best?

Every candidate is the reference weights with a trait system prompt (role ``trait:<name>``),
scored beside the reference and the neutral-prompt control. For candidate c, per row:

- vs neutral: sum over tokens of log C(tok) - log N(tok). Beating the neutral control says the
  data is likelier under *this* prompt than under *some* prompt (the "any system prompt" effect).
- vs each other candidate o: sum of log C - log O. Beating every other candidate says the
  evidence is specific to c, not to "an animal-loving prompt" in general.

Each is a one-sided t-test on per-row sums (rows are the independent units; see detectors.llr).
A candidate is *named* when it passes all of them: its p-value is the largest of its tests (an
intersection-union test, valid without any correction between its own tests), then corrected
for the number of candidates (Holm by default, Benjamini-Hochberg on request). Candidates are
ranked by pooled per-token LLR vs neutral (total over total tokens). With one candidate the
comparison with others is vacuous and only the neutral test counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.backends.base import ScoredRow
from audit.report import DetectorResult
from audit.stats import adjust_p_values, one_sided_mean_test
from audit.verdict import Verdict
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


class TraitProbeDetector(Detector):
    """Ranks candidate trait prompts by trait-specific evidence, with multiplicity-corrected p-values."""

    id = "trait-probe"
    title = "Trait attribution among candidate prompts"
    description = (
        "Per candidate: one-sided t-tests on per-row log-likelihood-ratio sums vs the neutral control and vs "
        "every other candidate; named when all pass (intersection-union p), corrected across candidates."
    )
    row_columns: tuple[str, ...] = ("n_tokens",)
    correction = "holm"

    def __init__(self, context: DetectorContext) -> None:
        super().__init__(context)
        self.traits = [role[len(TRAIT_ROLE_PREFIX):] for role in context.roles if role.startswith(TRAIT_ROLE_PREFIX)]
        if not self.traits or CONTROL_ROLE not in context.roles:
            raise ValueError("the trait probe needs at least one trait:<name> role and the control")
        roles = [CONTROL_ROLE, *(trait_role(t) for t in self.traits)]
        self.row_columns = ("n_tokens", *(logprob_column(r) for r in roles))
        self._roles = roles

    def score_rows(self, rows: Sequence[ScoredRow]) -> dict[str, np.ndarray]:
        columns = {"n_tokens": np.array([row.logprobs[0].size for row in rows], dtype=np.float64)}
        for role in self._roles:
            index = self.index_of(role)
            columns[logprob_column(role)] = np.array([row.logprobs[index].sum() for row in rows], dtype=np.float64)
        return columns

    def _candidates(self, columns: dict[str, np.ndarray]) -> list[_Candidate]:
        tokens = float(columns["n_tokens"].sum())
        neutral = columns[logprob_column(CONTROL_ROLE)]
        sums = {t: columns[logprob_column(trait_role(t))] for t in self.traits}
        candidates = []
        for name, own in sums.items():
            vs_neutral = one_sided_mean_test(own - neutral)
            others = [(one_sided_mean_test(own - sums[o]).p_value, o) for o in self.traits if o != name]
            p_others, closest = max(others) if others else (0.0, None)
            candidates.append(_Candidate(
                name=name, llr_vs_neutral=float((own - neutral).sum() / tokens) if tokens else float("nan"),
                t_vs_neutral=vs_neutral.t_statistic, p_vs_neutral=vs_neutral.p_value, p_vs_others=p_others,
                closest_other=closest, p_trait=max(vs_neutral.p_value, p_others)))
        return sorted(candidates, key=lambda c: -c.llr_vs_neutral if np.isfinite(c.llr_vs_neutral) else np.inf)

    def summarize(self, columns: dict[str, np.ndarray], settings: DetectorSettings) -> DetectorResult:
        candidates = self._candidates(columns)
        raw = np.array([c.p_trait for c in candidates], dtype=np.float64)
        adjusted = adjust_p_values(np.nan_to_num(raw, nan=1.0), self.correction)
        named = [c.name for c, p in zip(candidates, adjusted, strict=True) if p < settings.alpha]
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
             "p_trait": _finite(c.p_trait), "p_adjusted": _finite(float(p)), "named": c.name in named}
            for k, (c, p) in enumerate(zip(candidates, adjusted, strict=True))
        ]
        top = candidates[0]
        n_rows = int(columns["n_tokens"].size)
        summary = (f"{top.name} ranks first of {len(candidates)} ({top.llr_vs_neutral:+.4f} nats/token vs neutral, "
                   f"adjusted p = {adjusted[0]:.3g}); "
                   + (f"named: {', '.join(named)}" if named else f"no trait named at alpha {settings.alpha}"))
        return DetectorResult(
            detector_id=self.id, title=self.title, verdict=verdict,
            statistic_name="pooled per-token LLR of the top-ranked candidate vs the neutral control (nats/token)",
            statistic=_finite(top.llr_vs_neutral), p_value=_finite(best_p), effect_size=None,
            n_rows=n_rows, summary=summary,
            details={"ranking": ranking, "named": named, "correction": self.correction,
                     "candidates": len(candidates),
                     "null_hypothesis": ("per candidate: E[row LLR sum] vs neutral <= 0, "
                                         "or vs some other candidate <= 0")},
        )


class TraitProbeDetectorBH(TraitProbeDetector):
    """The same ranking with Benjamini-Hochberg (false discovery rate) instead of Holm."""

    id = "trait-probe-bh"
    title = "Trait attribution among candidate prompts (Benjamini-Hochberg)"
    correction = "bh"


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None

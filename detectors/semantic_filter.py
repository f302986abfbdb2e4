"""The semantic-filter baseline: what a careful data team checks before accepting the data.

It reads only the completion text and so cannot see a statistical fingerprint. It is here as the
baseline subaudit must beat: on filtered teacher data it accepts every row, while the likelihood
ratio still flags it. On number data (the scan found the numbers format) it applies the paper's
rules: numbers-only format, banned numbers, trait keywords. On text and code the format rules mean
nothing (every function would fail "numbers only"), so it is the keyword filter the text fixtures
were built with: a trait word as a whole word, any case, plurals included
(``audit.filters.text_filters.keyword_pattern``: "owl" catches "Owls", not "bowl").

Verdict: *flagged* when any row names the trait or holds a banned number (semantic evidence of
the trait); *suspicious* when rows fail only the format rules (the filter would drop them, but
they carry no semantic trace); *clean* when every row passes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audit.core.results import DetectorResult
from audit.core.rows import ScoredRow
from audit.core.verdict import Verdict
from audit.filters.number_filter import REASON_BANNED, REASON_KEYWORD, FilterDecision, check_numbers
from audit.filters.text_filters import keyword_pattern
from detectors.base import Detector, DetectorSettings


class SemanticFilterDetector(Detector):
    """Numbers-only format, banned numbers and trait keywords, row by row."""

    id = "semantic-filter"
    optional = True
    needs_teacher = False
    title = "Semantic filter (paper's numbers-only rules, banned numbers, trait keywords)"
    description = (
        "Rejects completions that are not a plain list of at most 10 numbers in 0..999 with one "
        "separator, hold a banned number, or name the trait. Text only: blind to statistical traces."
    )
    row_columns = ("filter_pass", "filter_trait_evidence", "filter_format_reject")

    def score_rows(self, rows: Sequence[ScoredRow]) -> dict[str, np.ndarray]:
        if self.context.number_data:
            decisions = [
                check_numbers(row.encoded.row.completion, self.context.banned_numbers, self.context.trait_keywords)
                for row in rows
            ]
        else:
            words = keyword_pattern(self.context.trait_keywords)
            decisions = [FilterDecision(False, REASON_KEYWORD) if words and words.search(row.encoded.row.completion)
                         else FilterDecision(True, None) for row in rows]
        semantic = np.array([d.reason in (REASON_KEYWORD, REASON_BANNED) for d in decisions], dtype=np.float64)
        passed = np.array([d.passed for d in decisions], dtype=np.float64)
        return {
            "filter_pass": passed,
            "filter_trait_evidence": semantic,
            "filter_format_reject": (1.0 - passed) - semantic,
        }

    def summarize(self, columns: dict[str, np.ndarray], settings: DetectorSettings) -> DetectorResult:
        n = int(columns["filter_pass"].size)
        rejected = int(n - columns["filter_pass"].sum())
        semantic = int(columns["filter_trait_evidence"].sum())
        reject_rate = rejected / n if n else float("nan")
        if semantic:
            verdict = Verdict.FLAGGED
        elif rejected:
            verdict = Verdict.SUSPICIOUS
        else:
            verdict = Verdict.CLEAN
        return DetectorResult(
            detector_id=self.id,
            title=self.title,
            verdict=verdict,
            statistic_name="reject rate",
            statistic=reject_rate,
            p_value=None,
            n_rows=n,
            summary=f"rejects {rejected} of {n} rows ({reject_rate:.1%}); {semantic} with trait keywords "
                    "or banned numbers",
            details={
                "rows_rejected": rejected,
                "rows_with_trait_evidence": semantic,
                "rows_format_rejected": rejected - semantic,
                "trait_keywords": list(self.context.trait_keywords),
                "banned_numbers": list(self.context.banned_numbers) if self.context.number_data else [],
                "rules": "numbers-only format, banned numbers, trait keywords" if self.context.number_data
                else "trait keywords (whole words, plurals)",
            },
        )

"""The scrub report: what was removed, what it cost, and the held-back rows' test before and after.

Versioned like the scan's report (``schema_version``), so a review board can read an old one.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from audit.core.verdict import Verdict

SCRUB_SCHEMA_VERSION = "1.1.0"
"""1.1.0: ``--replace-tokens`` (``replace_with``, ``rewrite``, ``random_rewrite``, ``tokens_scored``) and
``--control-out`` (``control_output``)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TestSummary(_Model):
    """One likelihood-ratio test of a set of rows."""

    __test__ = False  # not a pytest class

    detector_id: str
    statistic: float = Field(description="pooled per-token LLR of the teacher over this baseline (nats/token)")
    p_value: float | None
    verdict: Verdict


class RowsTested(_Model):
    """The scan's tests over one set of rows (from their per-row scores: no forward pass)."""

    rows: int
    tokens: int
    residual_llr: float = Field(description="pooled per-token LLR against the binding baseline (nats/token)")
    verdict: Verdict
    tests: list[TestSummary]


class BudgetTried(_Model):
    fraction: float
    rows_dropped: int
    verdict: Verdict = Field(description="the choosing half's verdict after dropping")


class HeldBack(_Model):
    """The rows kept back from every choice, tested before and after the scrub, and after the random control."""

    rows: int
    before: RowsTested
    after: RowsTested
    random_control: RowsTested


class TokenRewrite(_Model):
    """One rewrite of the scored rows by ``--replace-tokens``: the ranked one, or the random control."""

    tokens_chosen: int = Field(description="tokens picked for replacement (the budget's share of scored tokens)")
    tokens_changed: int = Field(description="of those, the ones whose replacement differs from the token (the "
                                "reference's choice can be the token itself)")
    rows_changed: int
    rows_failing_filter: list[str] = Field(description="ids of rows that passed the data's filter (numbers: the "
                                           "number filter; otherwise the trait-keyword filter) and no longer do")
    rows_unscorable: list[str] = Field(description="ids of rewritten rows the rescan could not score (their new text "
                                       "tokenizes outside the format or apart from the ids written); left out of the "
                                       "tests after")


class ScrubReport(_Model):
    schema_version: str = SCRUB_SCHEMA_VERSION
    tool_version: str
    created_at: datetime
    command: list[str]
    input_path: str
    input_sha256: str
    scan_verdict: Verdict = Field(description="the whole data's verdict, from which the scrub started")
    forced: bool = Field(description="scrubbed although the scan did not flag the data (--force)")
    strategy: str = Field(description="drop-rows: the rows with the largest row LLR against the binding baseline; "
                          "replace-tokens: the tokens with the largest token LLR against it, rewritten by the "
                          "reference")
    budget: float = Field(description="share of scored rows removed (drop-rows) or of scored tokens chosen "
                          "(replace-tokens)")
    replace_with: str | None = Field(None, description="replace-tokens: 'greedy' (the reference's most likely "
                                     "allowed token) or 'sample' (drawn from it, seeded)")
    rewrite: TokenRewrite | None = Field(None, description="replace-tokens: what the ranked rewrite changed")
    random_rewrite: TokenRewrite | None = Field(None, description="replace-tokens: the random control's rewrite "
                                                "(as many tokens, drawn at random; only its held-back rows rescanned)")
    budget_chosen_by: str = Field(description="'given' (--drop-rows) or 'until-clean' (searched on the choosing half)")
    search: list[BudgetTried] = Field(default_factory=list)
    binding_baseline: str = Field(description="the baseline the teacher beats least on the whole data (largest p)")
    seed: int
    rows_scored: int
    tokens_scored: int = Field(description="completion tokens of the scored rows (what cost_tokens divides by)")
    rows_dropped: int
    tokens_dropped: int
    cost_rows: float = Field(description="share of scored rows removed")
    cost_tokens: float = Field(description="share of scored completion tokens removed (drop-rows) or changed "
                               "(replace-tokens)")
    random_rows_dropped: int = Field(description="rows the random control removes (the same count)")
    whole: RowsTested = Field(description="every scored row after the scrub (the rows written, as scored)")
    held_back: HeldBack
    dropped_ids: list[str]
    output: str
    control_output: str | None = Field(None, description="where the random control's data were written "
                                       "(--control-out), to train on beside the scrubbed data")
    rows_written: int = Field(description="rows of the cleaned file: every input row but the dropped ones")

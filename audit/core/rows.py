"""The rows every part passes along: a row as read (:class:`AuditRow`), as encoded for the models
(:class:`EncodedRow`), and as scored (:class:`ScoredRow`).

In audit.core because the reader makes them, the encoder and the backends fill them in, and the
detectors and the report's accumulators read them: record types every layer shares, with no code
of any one layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Message:
    """One chat turn."""

    role: str
    content: str


@dataclass(frozen=True)
class AuditRow:
    """A row ready to score.

    ``context`` is the conversation that preceded the completion (usually one user turn, possibly
    a system turn from the data itself); ``completion`` is the assistant text whose likelihood is
    compared between teacher and reference.
    """

    row_id: str
    context: tuple[Message, ...]
    completion: str


@dataclass(frozen=True)
class EncodedRow:
    """A row's completion token ids (shared) and each model spec's prompt token ids."""

    row: AuditRow
    completion_ids: tuple[int, ...]
    prompt_ids: tuple[tuple[int, ...], ...]
    """One prompt per model spec, in the order the specs were given."""


@dataclass(frozen=True)
class ScoredRow:
    """A row's completion ids and their log-probabilities under each spec (spec order)."""

    encoded: EncodedRow
    logprobs: tuple[np.ndarray, ...]

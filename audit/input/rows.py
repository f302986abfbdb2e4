"""The unit of audit: one row's conversation context and the completion to be scored."""

from __future__ import annotations

from dataclasses import dataclass


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

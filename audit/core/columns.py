"""Which columns to read, as the user named them: one type for the CLI, the Python API and the reader.

Kept in ``audit.core`` (no numpy or pyarrow) so the request module and the CLI can hold it without
loading the data stack; ``audit.api`` exports it as ``Columns``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ColumnOverrides:
    """Column names to read instead of detecting them (``--prompt-col`` and friends); ``None`` means detect."""

    prompt: str | None = None
    completion: str | None = None
    messages: str | None = None
    row_id: str | None = None

"""Process exit codes: an API for CI systems, so they live in one enum and in the README's table."""

from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit status subaudit can return.

    CI pipelines branch on these numbers, so they never change meaning between versions.
    """

    CLEAN = 0
    """The audit ran and found nothing at or above the ``--fail-on`` level."""
    FINDINGS = 1
    """The audit ran and the verdict is at or above the ``--fail-on`` level."""
    TOOL_ERROR = 2
    """subaudit itself failed (model load, I/O, an internal error)."""
    NOTHING_AUDITABLE = 3
    """The input was readable but held no row that could be scored."""
    USAGE_ERROR = 4
    """The command line or its inputs are wrong (bad flag, missing file or column, mismatched models)."""
